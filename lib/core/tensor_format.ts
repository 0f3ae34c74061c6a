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
 * `indent` spaces (the width of what precedes the opening bracket). `values` are the tensor's (row-major,
 * `shape`) or, for a summarised one, only those shown: summaryShape(fullShape)'s.
 */
export function formatValues(values: Values, shape: readonly number[], indent: number, fullShape: readonly number[] = shape): string {
  const summarise = fullShape.reduce((a, b) => a * b, 1) > SUMMARY_THRESHOLD;
  // Whether dimension k is cut to its edges (its values given in full, or already cut by summaryShape).
  const cut = fullShape.map((size) => summarise && size > 2 * EDGE_ITEMS);
  const keptIndices = (k: number): number[] => {
    const size = shape[k];
    if (!cut[k]) return Array.from({ length: size }, (_, i) => i);
    const tail = size - EDGE_ITEMS; // the last EDGE_ITEMS, whether shape[k] is the full size or 2 × EDGE_ITEMS
    return [...Array.from({ length: EDGE_ITEMS }, (_, i) => i), -1, ...Array.from({ length: EDGE_ITEMS }, (_, i) => tail + i)];
  };
  const shown = shownIndices(shape, keptIndices);
  const { format, width } = numberFormat(values, shown);
  const pad = (s: string) => s.padStart(width);
  if (shape.length === 0) return pad(format(values[0]));
  if (values.length === 0) return '[]';
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));

  const block = (dim: number, offset: number, column: number): string => {
    const kept = keptIndices(dim);
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

/**
 * The shape of the values a summarised printout shows: each long dimension cut to its first and last
 * EDGE_ITEMS (a tensor of more than SUMMARY_THRESHOLD elements; else the shape itself). Printing gathers only
 * these: copying every value out made printing a large tensor as costly as the tensor, and an expanded view
 * (one value seen 2^40 times, as loadTorch reads torch's expand()) could not be printed at all.
 */
export function summaryShape(shape: readonly number[]): number[] {
  if (shape.reduce((a, b) => a * b, 1) <= SUMMARY_THRESHOLD) return [...shape];
  return shape.map((size) => Math.min(size, 2 * EDGE_ITEMS));
}

/** Flat indices of every value the printout shows (the number format is chosen over these only, as torch). */
function shownIndices(shape: readonly number[], keptIndices: (k: number) => number[]): number[] {
  let flat = [0];
  shape.forEach((_, k) => {
    const stride = shape.slice(k + 1).reduce((a, b) => a * b, 1);
    const kept = keptIndices(k).filter((i) => i >= 0);
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
