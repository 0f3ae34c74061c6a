// The differentiable ops as free functions (`grnewt.add(a, b)`, ...), each the same as the Tensor method.
import { Tensor, binary, unary, type Conv2dOptions, type MaxPool2dOptions } from './tensor';

export const add = (a: Tensor | number, b: Tensor | number): Tensor => binary('add', a, b);
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binary('sub', a, b);
export const mul = (a: Tensor | number, b: Tensor | number): Tensor => binary('mul', a, b);
export const div = (a: Tensor | number, b: Tensor | number): Tensor => binary('div', a, b);
export const pow = (base: Tensor | number, exponent: Tensor | number): Tensor => binary('pow', base, exponent);
export const neg = (x: Tensor): Tensor => unary('neg', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const abs = (x: Tensor): Tensor => unary('abs', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const elu = (x: Tensor, alpha = 1): Tensor => input('elu', x).elu(alpha);
export const clampMin = (x: Tensor, min: number): Tensor => input('clampMin', x).clampMin(min);
export const matmul = (a: Tensor, b: Tensor): Tensor => input('matmul', a).matmul(b);
export const sum = (x: Tensor, dim?: number | number[], keepDim = false): Tensor => input('sum', x).sum(dim, keepDim);
export const mean = (x: Tensor, dim?: number | number[], keepDim = false): Tensor => input('mean', x).mean(dim, keepDim);
export const max = (x: Tensor, dim?: number | number[], keepDim = false): Tensor => input('max', x).max(dim, keepDim);
export const min = (x: Tensor, dim?: number | number[], keepDim = false): Tensor => input('min', x).min(dim, keepDim);
export const reshape = (x: Tensor, shape: number[]): Tensor => input('reshape', x).reshape(shape);
export const unsqueeze = (x: Tensor, dim: number): Tensor => input('unsqueeze', x).unsqueeze(dim);
export const squeeze = (x: Tensor, dim?: number): Tensor => input('squeeze', x).squeeze(dim);
export const flatten = (x: Tensor, startDim = 0, endDim = -1): Tensor => input('flatten', x).flatten(startDim, endDim);
export const permute = (x: Tensor, dims: number[]): Tensor => input('permute', x).permute(dims);
export const narrow = (x: Tensor, dim: number, start: number, length: number): Tensor => input('narrow', x).narrow(dim, start, length);
export { cat, stack } from './tensor';
export const transpose = (x: Tensor, dim0: number, dim1: number): Tensor => input('transpose', x).transpose(dim0, dim1);
export const logSoftmax = (x: Tensor, dim: number): Tensor => input('logSoftmax', x).logSoftmax(dim);
export const softmax = (x: Tensor, dim: number): Tensor => input('softmax', x).softmax(dim);
export const gather = (x: Tensor, dim: number, index: Tensor): Tensor => input('gather', x).gather(dim, index);
export const indexSelect = (x: Tensor, dim: number, index: Tensor): Tensor => input('indexSelect', x).indexSelect(dim, index);
export const pad = (x: Tensor, pads: number[], value = 0): Tensor => input('pad', x).pad(pads, value);
export const argmax = (x: Tensor, dim: number): Tensor<'int64'> => input('argmax', x).argmax(dim);
/** 1 where a equals b (broadcasting), 0 elsewhere, as float32 (see Tensor.eq). */
export const eq = (a: Tensor, b: Tensor | number): Tensor<'float32'> => input('eq', a).eq(b);
export const conv2d = (x: Tensor, weight: Tensor, bias?: Tensor | null, options?: Conv2dOptions): Tensor =>
  input('conv2d', x).conv2d(weight, bias, options);
export const maxPool2d = (x: Tensor, kernelSize: number | [number, number], options?: MaxPool2dOptions): Tensor =>
  input('maxPool2d', x).maxPool2d(kernelSize, options);

function input(where: string, x: unknown): Tensor {
  Tensor.handleOf(where, 'input', x);
  return x as Tensor;
}
