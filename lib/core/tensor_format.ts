// Printing tensors as torch does: one number format shared by every value shown (fixed with 4 decimals,
// `1.` for integral floats, scientific when magnitudes span more than 1000× or leave [1e-4, 1e8]), and
// large tensors summarised with their first and last EDGE_ITEMS entries along each long dimension.

/** Tensors with more elements than this are summarised (torch's print threshold). */
export const SUMMARY_THRESHOLD = 1000;
/** Entries kept at each end of a summarised dimension (torch's edgeitems). */
export const EDGE_ITEMS = 3;
const LINE_WIDTH = 80;

type Values = Float32Array | Float64Array | BigInt64Array;

/**
 * The body of a tensor's printout: nested brackets of formatted values, continuation lines indented by
 * `indent` spaces (the width of what precedes the opening bracket).
 */
export function formatValues(values: Values, shape: readonly number[], indent: number): string {
  const summarise = values.length > SUMMARY_THRESHOLD;
  const shown = shownIndices(shape, summarise);
  const { format, width } = numberFormat(values, shown);
  const pad = (s: string) => s.padStart(width);
  if (shape.length === 0) return pad(format(values[0]));
  if (values.length === 0) return '[]';
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));

  const block = (dim: number, offset: number, column: number): string => {
    const size = shape[dim];
    const kept = keptIndices(size, summarise);
    if (dim === shape.length - 1) {
      const items = kept.map((i) => (i < 0 ? ' ...' : pad(format(values[offset + i]))));
      const perLine = Math.max(1, Math.floor((LINE_WIDTH - column) / (width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return `[${lines.join(`,\n${' '.repeat(column + 1)}`)}]`;
    }
    const separator = `,${'\n'.repeat(shape.length - dim - 1)}${' '.repeat(column + 1)}`;
    const parts = kept.map((i) => (i < 0 ? '...' : block(dim + 1, offset + i * strides[dim], column + 1)));
    return `[${parts.join(separator)}]`;
  };
  return block(0, 0, indent);
}

/** The indices of one dimension that are shown; -1 stands for the "..." of a summarised dimension. */
function keptIndices(size: number, summarise: boolean): number[] {
  if (!summarise || size <= 2 * EDGE_ITEMS) return Array.from({ length: size }, (_, i) => i);
  const head = Array.from({ length: EDGE_ITEMS }, (_, i) => i);
  const tail = Array.from({ length: EDGE_ITEMS }, (_, i) => size - EDGE_ITEMS + i);
  return [...head, -1, ...tail];
}

/** Flat indices of every value the printout shows (the number format is chosen over these only, as torch). */
function shownIndices(shape: readonly number[], summarise: boolean): number[] {
  let flat = [0];
  shape.forEach((size, k) => {
    const stride = shape.slice(k + 1).reduce((a, b) => a * b, 1);
    const kept = keptIndices(size, summarise).filter((i) => i >= 0);
    flat = flat.flatMap((base) => kept.map((i) => base + i * stride));
  });
  return flat;
}

/**
 * torch's _Formatter: the format and the column width are decided over the shown values — for floats over
 * the non-zero finite ones only (so nan, inf and 0 do not widen the columns), for integers over all.
 */
function numberFormat(values: Values, shown: number[]): { format: (v: number | bigint) => string; width: number } {
  if (values instanceof BigInt64Array) {
    return { format: (v) => String(v), width: shown.reduce((w, i) => Math.max(w, String(values[i]).length), 1) };
  }
  const nonZero = shown.map((i) => values[i] as number).filter((v) => Number.isFinite(v) && v !== 0);
  const integral = nonZero.every(Number.isInteger);
  const max = nonZero.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
    min = nonZero.reduce((m, v) => Math.min(m, Math.abs(v)), Infinity);
  // (torch tests min < 1e-4 for non-integral values only; non-zero integers are ≥ 1 anyway)
  const scientific = nonZero.length > 0 && (max / min > 1000 || max > 1e8 || min < 1e-4);
  const format = (v: number | bigint): string => {
    const x = v as number;
    if (Number.isNaN(x)) return 'nan';
    if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
    if (scientific) return x.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2'); // Python writes e+05, JS e+5
    return integral ? `${x.toFixed(0)}.` : x.toFixed(4);
  };
  return { format, width: nonZero.reduce((w, v) => Math.max(w, format(v).length), 1) };
}

/** Nested arrays of the values (row-major), as torch's tolist(); a scalar for a 0-d tensor. */
export function nestedList<T>(values: ArrayLike<T>, shape: readonly number[]): NestedList<T> {
  if (shape.length === 0) return values[0];
  const build = (dim: number, offset: number, stride: number): NestedList<T>[] | T[] => {
    const size = shape[dim];
    if (dim === shape.length - 1) return Array.from({ length: size }, (_, i) => values[offset + i]);
    const inner = stride / (size || 1);
    return Array.from({ length: size }, (_, i) => build(dim + 1, offset + i * inner, inner));
  };
  return build(0, 0, values.length);
}

/** A value or arbitrarily nested arrays of values. */
export type NestedList<T> = T | NestedList<T>[];
