// eq, argmax and accuracy, against counts made by hand in JS.
import { describe, expect, it } from 'vitest';
import { accuracy, argmax, eq, noGrad, tensor } from '../lib';
import { values } from './helpers';

describe('eq and argmax', () => {
  it('eq is 1 where equal, 0 elsewhere, as float32, broadcasting, with a number too', () => {
    const a = tensor([
      [1n, 2n, 3n],
      [3n, 2n, 1n],
    ]);
    const r = eq(a, tensor([1n, 2n, 1n]));
    expect(r.dtype).toBe('float32');
    expect(r.tolist()).toEqual([
      [1, 1, 0],
      [0, 1, 1],
    ]);
    expect(tensor([0.5, 1.5]).eq(1.5).tolist()).toEqual([0, 1]);
    expect(() => eq(a, tensor([1n, 2n]))).toThrow(/eq: shapes \[2,3\] and \[2\] are not broadcastable/);
    expect(() => a.eq('1' as never)).toThrow(/eq: other must be a Tensor or a number, got "1"/);
  });

  it('argmax gives int64 indices of the largest value (the first on ties)', () => {
    const x = tensor([
      [0.1, 0.7, 0.2],
      [5, 5, -1],
    ]);
    const i = argmax(x, 1);
    expect(i.dtype).toBe('int64');
    expect(i.tolist()).toEqual([1n, 0n]);
    expect(x.argmax(0).tolist()).toEqual([1n, 1n, 0n]); // column 2: 0.2 > -1
  });
});

describe('accuracy', () => {
  it('is the fraction of rows whose argmax is the label, for logits or log-probabilities alike', () => {
    const n = 97,
      c = 7;
    const scores = values(n * c, 3);
    const labels = BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 5) % c));
    let hits = 0;
    for (let r = 0; r < n; r++) {
      const row = Array.from(scores.subarray(r * c, r * c + c));
      if (BigInt(row.indexOf(Math.max(...row))) === labels[r]) hits++;
    }
    const logits = tensor(scores, { shape: [n, c] });
    const target = tensor(labels);
    expect(hits).toBeGreaterThan(0);
    expect(accuracy(logits, target)).toBe(hits / n);
    expect(accuracy(logits.logSoftmax(1), target)).toBe(hits / n);
    expect(noGrad(() => accuracy(logits, target))).toBe(hits / n);
  });

  it('records no graph and refuses what it cannot score, saying how to fix it', () => {
    const logits = tensor(
      [
        [1, 2],
        [3, 0],
      ],
      { requiresGrad: true },
    );
    expect(accuracy(logits, tensor([1n, 0n]))).toBe(1);
    expect(() => accuracy(logits, tensor([1, 0]))).toThrow(
      /accuracy: target must hold int64 class indices, got float32; make the labels with \{ dtype: 'int64' \}/,
    );
    expect(() => accuracy(tensor([1, 2]), tensor([1n, 0n]))).toThrow(/accuracy: outputs must be \[N, C\] scores, got shape \[2\]/);
    expect(() => accuracy(logits, tensor([1n]))).toThrow(/accuracy: target must be \[N\] = \[2\], got shape \[1\]/);
    expect(() => accuracy([[1, 2]] as never, tensor([1n]))).toThrow(/accuracy: outputs must be a Tensor/);
  });
});
