// Files of Python's torch.save (the zip format of PyTorch 1.6 … 2.x) ↔ plain JS values and tensors.
//
// A torch.save file is a zip archive under one folder ("archive/" or the file's name): data.pkl (a
// pickle of the saved value, whose tensors point to storages by key), data/<key> (each storage's raw
// bytes), version, and since PyTorch 2.x byteorder, .format_version, .storage_alignment and
// .data/serialization_id. Reading is weights-only by construction: the unpickler knows only the globals
// listed below, each rebuilt here in JS; nothing from the file is ever executed.
import { readRegularFile } from './regular_files';
import { native } from '../core/native';
import { Tensor, checkDevice, type DeviceName, type Dtype } from '../core/tensor';
import { checkOptions, formatShape, show } from '../core/validate';
import { writeFileAtomic } from './atomic_file';
import { MAX_DEPTH, nestedTooDeep } from './checkpoint';
import { newDict, unpickle, setKey, type PickleGlobal } from './pickle_reader';
import { PickleWriter } from './pickle_writer';
import { ITEM_SIZE, elementCount, tensorBytes, tensorFromBytes } from './tensor_bytes';
import { readZip, writeZip } from './zip_archive';

export interface LoadTorchOptions {
  /** Where every tensor goes, whatever device it was saved from (default 'cpu'). */
  device?: DeviceName;
}

// torch.<X>Storage → dtype. Storages of other dtypes are refused by name.
const STORAGES: Record<string, Dtype> = { FloatStorage: 'float32', DoubleStorage: 'float64', LongStorage: 'int64' };
const UNSUPPORTED_STORAGES: Record<string, string> = {
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  ComplexHalfStorage: 'complex32',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  QInt8Storage: 'qint8',
  QUInt8Storage: 'quint8',
  QInt32Storage: 'qint32',
  QUInt4x2Storage: 'quint4x2',
  QUInt2x4Storage: 'quint2x4',
  UntypedStorage: 'untyped bytes',
};

class StorageType implements PickleGlobal {
  constructor(
    readonly name: string,
    readonly dtype: Dtype,
  ) {}
}

/** One storage of the file, made once per key: the tensors that view it share its memory. */
class Storage {
  constructor(
    readonly key: string,
    readonly dtype: Dtype,
    readonly numel: number,
    readonly base: Tensor,
  ) {}
}

/** Reads a file written by Python's torch.save: tensors, dicts (as objects), lists and tuples (as arrays), numbers, strings. */
// biome-ignore lint/suspicious/noExplicitAny: a torch.save file holds any tree; `any` lets it be read as Python code reads it
export function loadTorch(file: string, options?: LoadTorchOptions): any {
  if (typeof file !== 'string' || file === '') throw new TypeError(`loadTorch: file must be a path, got ${show(file)}`);
  const o = checkOptions('loadTorch', options);
  for (const k of Object.keys(o)) if (k !== 'device') throw new TypeError(`loadTorch: unknown option ${show(k)} (known: device)`);
  const device = (o.device === undefined ? 'cpu' : checkDevice('loadTorch', o.device)) as DeviceName;
  const where = `loadTorch: ${file}`;
  const bytes = readRegularFile('loadTorch', file); // a FIFO or /dev/zero is refused, not read forever
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) {
    throw new Error(
      `${where}: this is PyTorch's legacy (pre-1.6, or _use_new_zipfile_serialization=False) format, which is not read; re-save it with torch.save in a current PyTorch`,
    );
  }
  if (bytes.length < 4 || bytes.readUInt32LE(0) !== 0x04034b50)
    throw new Error(`${where}: not a file written by torch.save (no zip signature)`);
  const entries = readZip(bytes, where);
  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    const scripted = [...entries.keys()].some((n) => /^[^/]+\/constants\.pkl$/.test(n));
    throw new Error(
      `${where}: ${scripted ? 'a TorchScript archive (torch.jit.save), not a torch.save file' : `expected one <folder>/data.pkl record, found ${pickles.length}`}`,
    );
  }
  const prefix = pickles[0].slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  const byteOrder = order === undefined ? 'little' : Buffer.from(order).toString('latin1');
  if (byteOrder !== 'little' && byteOrder !== 'big') throw new Error(`${where}: byteorder record says ${show(byteOrder)}`);

  const created: Tensor[] = [];
  const storages = new Map<string, Storage>();
  const orderedDicts = new WeakSet<object>();
  const view = (s: unknown, offset: unknown, size: unknown, stride: unknown, requiresGrad: unknown): Tensor => {
    if (!(s instanceof Storage)) throw new Error(`${where}: a tensor is rebuilt from ${show(s)}, not a storage`);
    const sizes = intList(size, 'size'),
      strides = intList(stride, 'stride');
    if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new Error(`${where}: a tensor's storage offset is ${show(offset)}`);
    if (strides.length !== sizes.length)
      throw new Error(`${where}: a tensor has size ${formatShape(sizes)} but stride ${formatShape(strides)}`);
    if (typeof requiresGrad !== 'boolean') throw new Error(`${where}: a tensor's requires_grad is ${show(requiresGrad)}`);
    // The furthest element the view reads, in exact integers, must lie in the storage.
    let last = BigInt(offset as number);
    for (let i = 0; i < sizes.length; i++) last += BigInt(Math.max(0, sizes[i] - 1)) * BigInt(strides[i]);
    if (!sizes.includes(0) && last >= BigInt(s.numel)) {
      throw new Error(
        `${where}: a tensor of size ${formatShape(sizes)}, stride ${formatShape(strides)} at offset ${offset} reads past the end of storage ${s.key} (${s.numel} elements)`,
      );
    }
    const t = new Tensor(native().asStrided(s.base.handle('loadTorch'), sizes, strides, offset as number));
    created.push(t);
    if (requiresGrad && s.dtype !== 'int64') t.requiresGrad = true;
    return t;
  };
  const intList = (v: unknown, what: string): number[] => {
    if (!Array.isArray(v) || v.some((d) => !Number.isSafeInteger(d) || d < 0))
      throw new Error(`${where}: a tensor's ${what} is ${show(v)}, not a tuple of non-negative integers`);
    return v as number[];
  };
  const asTensor = (v: unknown, what: string): Tensor => {
    if (!(v instanceof Tensor)) throw new Error(`${where}: ${what} got ${show(v)}, not a tensor`);
    return v;
  };
  const setRequiresGrad = (t: Tensor, requiresGrad: unknown): Tensor => {
    if (typeof requiresGrad !== 'boolean') throw new Error(`${where}: a Parameter's requires_grad is ${show(requiresGrad)}`);
    if (requiresGrad && t.dtype === 'int64') throw new Error(`${where}: an int64 Parameter cannot require grad`);
    if (t.requiresGrad !== requiresGrad) t.requiresGrad = requiresGrad;
    return t;
  };

  const rebuildTensorV2: PickleGlobal = {
    name: 'torch._utils._rebuild_tensor_v2',
    call: ([s, offset, size, stride, rg]) => view(s, offset, size, stride, rg),
  };
  const rebuildTensor: PickleGlobal = {
    name: 'torch._utils._rebuild_tensor',
    call: ([s, offset, size, stride]) => view(s, offset, size, stride, false),
  };
  const rebuildParameter: PickleGlobal = {
    name: 'torch._utils._rebuild_parameter',
    call: ([data, rg]) => setRequiresGrad(asTensor(data, '_rebuild_parameter'), rg),
  };
  const rebuildParameterWithState: PickleGlobal = {
    name: 'torch._utils._rebuild_parameter_with_state',
    call: ([data, rg]) => setRequiresGrad(asTensor(data, '_rebuild_parameter_with_state'), rg),
  };
  const tensorType: PickleGlobal = { name: 'torch.Tensor' };
  const parameterType: PickleGlobal = {
    name: 'torch.nn.parameter.Parameter',
    newObj: ([data, rg = true]) => setRequiresGrad(asTensor(data, 'Parameter'), rg),
  };
  const rebuilders = new Set<PickleGlobal>([rebuildTensorV2, rebuildTensor, rebuildParameter, rebuildParameterWithState]);
  const rebuildFromType: PickleGlobal = {
    name: 'torch._tensor._rebuild_from_type_v2',
    call: ([func, type, args]) => {
      if (!rebuilders.has(func as PickleGlobal) || (type !== tensorType && type !== parameterType) || !Array.isArray(args)) {
        throw new Error(
          `${where}: _rebuild_from_type_v2 of ${show((type as PickleGlobal)?.name ?? type)} by ${show((func as PickleGlobal)?.name ?? func)} is not allowed`,
        );
      }
      return (func as PickleGlobal).call!(args);
    },
  };
  const orderedDict: PickleGlobal = {
    name: 'collections.OrderedDict',
    call: (args) => {
      const d = newDict();
      orderedDicts.add(d);
      if (args.length > 1 || (args.length === 1 && !Array.isArray(args[0])))
        throw new Error(`${where}: OrderedDict called with ${show(args)}`);
      for (const pair of (args[0] ?? []) as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string')
          throw new Error(`${where}: OrderedDict item ${show(pair)} is not a (str, value) pair`);
        setKey(d, pair[0], pair[1]);
      }
      return d;
    },
  };
  const torchSize: PickleGlobal = {
    name: 'torch.Size',
    call: ([dims]) => intList(dims, 'torch.Size').slice(),
  };
  const torchDevice: PickleGlobal = {
    name: 'torch.device',
    call: ([type, index]) => {
      if (typeof type !== 'string' || (index !== undefined && index !== null && !Number.isSafeInteger(index)))
        throw new Error(`${where}: torch.device(${show(type)}, ${show(index)})`);
      return index === undefined || index === null ? type : `${type}:${index}`;
    },
  };
  const globals = new Map<string, PickleGlobal>([
    ['torch._utils._rebuild_tensor_v2', rebuildTensorV2],
    ['torch._utils._rebuild_tensor', rebuildTensor],
    ['torch._utils._rebuild_parameter', rebuildParameter],
    ['torch._utils._rebuild_parameter_with_state', rebuildParameterWithState],
    ['torch._tensor._rebuild_from_type_v2', rebuildFromType],
    ['torch.Tensor', tensorType],
    ['torch.nn.parameter.Parameter', parameterType],
    ['collections.OrderedDict', orderedDict],
    ['torch.Size', torchSize],
    ['torch.device', torchDevice],
    ...Object.entries(STORAGES).map(
      ([name, dtype]) => [`torch.${name}`, new StorageType(`torch.${name}`, dtype)] as [string, PickleGlobal],
    ),
  ]);

  const persistentLoad = (pid: unknown): Storage => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage')
      throw new Error(`${where}: persistent id ${show(pid)} is not a storage`);
    const [, type, key, location, numel] = pid;
    if (!(type instanceof StorageType)) throw new Error(`${where}: storage type ${show(type)}`);
    if (typeof key !== 'string' || !/^[\w.-]+$/.test(key)) throw new Error(`${where}: storage key ${show(key)}`);
    if (typeof location !== 'string') throw new Error(`${where}: storage location ${show(location)}`);
    if (!Number.isSafeInteger(numel) || numel < 0) throw new Error(`${where}: storage ${key} has ${show(numel)} elements`);
    const known = storages.get(key);
    if (known) {
      if (known.dtype !== type.dtype || known.numel !== numel)
        throw new Error(`${where}: storage ${key} is used as ${type.name} of ${numel} and as ${known.dtype} of ${known.numel} elements`);
      return known;
    }
    const data = entries.get(`${prefix}data/${key}`);
    if (!data) throw new Error(`${where}: storage ${key} has no record ${prefix}data/${key}`);
    const expected = numel * ITEM_SIZE[type.dtype];
    if (data.length !== expected)
      throw new Error(`${where}: storage ${key} holds ${data.length} bytes, ${numel} × ${type.dtype} need ${expected}`);
    const base = tensorFromBytes(data, type.dtype, device, byteOrder === 'big');
    created.push(base);
    const s = new Storage(key, type.dtype, numel, base);
    storages.set(key, s);
    return s;
  };

  try {
    const value = unpickle(
      entries.get(pickles[0])!,
      {
        resolveGlobal: (module, name) => {
          if (module === 'torch' && Object.hasOwn(UNSUPPORTED_STORAGES, name)) {
            throw new Error(
              `${where}: a tensor of dtype ${UNSUPPORTED_STORAGES[name]} (torch.${name}); grnewt reads float32, float64 and int64 tensors (convert with .float(), .double() or .long() before saving)`,
            );
          }
          return globals.get(`${module}.${name}`);
        },
        persistentLoad,
        build: (instance, state) => {
          // OrderedDict's state is its attributes (a state dict's _metadata: module versions), which JS drops.
          if (instance === null || typeof instance !== 'object' || !orderedDicts.has(instance))
            throw new Error(`${where}: BUILD on ${show(instance)} is not allowed`);
          if (state !== null && (typeof state !== 'object' || Array.isArray(state)))
            throw new Error(`${where}: OrderedDict state ${show(state)}`);
        },
      },
      where,
    );
    for (const s of storages.values()) s.base.dispose(); // the views keep the memory alive
    return value;
  } catch (err) {
    for (const t of created) t.dispose();
    throw err;
  }
}

/**
 * Writes `value` (tensors, numbers, strings, booleans, null, and arrays and plain objects of them) so that
 * Python's torch.load(file, weights_only=True) reads it: objects become dicts, arrays lists, tensors CPU
 * tensors (each its own contiguous storage; the same Tensor twice, one storage). Written atomically.
 */
export function saveTorch(file: string, value: unknown): void {
  if (typeof file !== 'string' || file === '') throw new TypeError(`saveTorch: file must be a path, got ${show(file)}`);
  const w = new PickleWriter().proto();
  const keys = new Map<Tensor, string>();
  const records: Array<[string, Uint8Array]> = [];
  const ancestors = new Set<object>();
  const encode = (v: unknown, path: string, depth: number): void => {
    // Far deeper trees exhausted the stack here with no name; Python's own torch.save stops near 500 levels.
    if (depth > MAX_DEPTH) throw new TypeError(nestedTooDeep('saveTorch', path)); // as deep as save()'s checkpoints
    if (v instanceof Tensor) {
      let key = keys.get(v);
      const shape = v.shape;
      if (key === undefined) {
        key = String(keys.size);
        keys.set(v, key);
        records.push([`archive/data/${key}`, tensorBytes(v)]);
      }
      const storage = v.dtype === 'float32' ? 'FloatStorage' : v.dtype === 'float64' ? 'DoubleStorage' : 'LongStorage';
      const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
      w.global('torch._utils', '_rebuild_tensor_v2').mark();
      w.mark().string('storage').global('torch', storage).string(key).string('cpu').int(elementCount(shape)).tuple().binPersId();
      w.int(0).mark();
      for (const d of shape) w.int(d);
      w.tuple().mark();
      for (const s of strides) w.int(s);
      w.tuple().bool(false).global('collections', 'OrderedDict').emptyTuple().reduce(); // requires_grad, backward hooks
      w.tuple().reduce();
      return;
    }
    if (typeof v === 'number') {
      // An int only where it is one exactly: a whole number beyond 2^53 is a double (Python reads a float, we a
      // number again; as an int it would come back a bigint). bigints are written as ints.
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) w.int(v);
      else w.float(v);
      return;
    }
    if (typeof v === 'bigint') return void w.int(v);
    if (typeof v === 'string') return void w.string(v);
    if (typeof v === 'boolean') return void w.bool(v);
    if (v === null || v === undefined) return void w.none();
    if (typeof v === 'object' && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
      if (ancestors.has(v)) throw new TypeError(`saveTorch: ${path} contains itself (a cycle), which a file cannot hold`);
      ancestors.add(v);
      if (Array.isArray(v)) {
        w.emptyList();
        if (v.length) {
          w.mark();
          // Every index, holes too (as None, as undefined is): forEach skipped them, and [1, , 3] came back [1, 3].
          for (let i = 0; i < v.length; i++) encode(v[i], `${path}[${i}]`, depth + 1);
          w.appends();
        }
      } else {
        const items = Object.entries(v);
        w.emptyDict();
        if (items.length) {
          w.mark();
          for (const [k, item] of items) {
            w.string(k);
            encode(item, `${path}.${k}`, depth + 1);
          }
          w.setItems();
        }
      }
      ancestors.delete(v);
      return;
    }
    throw new TypeError(
      `saveTorch: ${path} is ${show(v)}; a PyTorch file holds tensors, numbers, strings, booleans, null, arrays and plain objects`,
    );
  };
  encode(value, 'value', 0);
  const pickle = w.stop().bytes();
  const zip = writeZip(
    [['archive/data.pkl', pickle], ['archive/byteorder', Buffer.from('little')], ...records, ['archive/version', Buffer.from('3\n')]],
    (name) => name.startsWith('archive/data/'),
    'saveTorch',
  );
  writeFileAtomic(file, [zip], 'saveTorch');
}
