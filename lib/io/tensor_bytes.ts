// Raw tensor bytes in files (PyTorch storages, safetensors buffers) ↔ typed arrays and tensors.
// Files are little-endian; so is every platform grnewt's addon is built for (x64, arm64).
import { tensor } from '../core/creation';
import type { Tensor, DeviceName, Dtype } from '../core/tensor';

export const ITEM_SIZE: Record<Dtype, number> = { float32: 4, float64: 8, int64: 8 };

/**
 * A typed array of `bytes`' elements: a view when they are aligned for the element type (the tensor made
 * from it copies them anyway), else a copy; byte-swapped (in a copy) when big-endian.
 */
export function typedFromBytes(bytes: Uint8Array, dtype: Dtype, bigEndian = false): Float32Array | Float64Array | BigInt64Array {
  const size = ITEM_SIZE[dtype];
  let source = bytes;
  if (bigEndian || bytes.byteOffset % size !== 0) {
    source = new Uint8Array(bytes.length);
    source.set(bytes);
    if (bigEndian) for (let i = 0; i < source.length; i += size) source.subarray(i, i + size).reverse();
  }
  const n = source.length / size;
  const { buffer, byteOffset } = source;
  return dtype === 'float32'
    ? new Float32Array(buffer, byteOffset, n)
    : dtype === 'float64'
      ? new Float64Array(buffer, byteOffset, n)
      : new BigInt64Array(buffer, byteOffset, n);
}

/** A 1-D tensor of `dtype` holding `bytes` (whose length is a multiple of the item size, checked by callers). */
export function tensorFromBytes(bytes: Uint8Array, dtype: Dtype, device: DeviceName, bigEndian = false): Tensor {
  return tensor(typedFromBytes(bytes, dtype, bigEndian), { dtype, device });
}

/** The row-major little-endian bytes of a tensor's values (a copy, from any device). */
export function tensorBytes(t: Tensor): Uint8Array {
  const data = t.toArray();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Elements of `shape`, or -1 when it is not a list of safe non-negative integers or its product is not safe. */
export function elementCount(shape: unknown): number {
  if (!Array.isArray(shape)) return -1;
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return -1;
    n *= d;
    if (!Number.isSafeInteger(n)) return -1;
  }
  return n;
}
