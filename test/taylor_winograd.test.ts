// The Taylor route's Winograd convolutions (native/core/winograd_conv.cpp) change its rounding, never its
// decisions: each max-pool's argmax and each relu's mask come from the values, which stay ATen's, as in the
// model's forward pass and the autograd route. When the values pass used Winograd too, this VGG-11 (float32,
// 2 threads) had a near-tie that its ~1e-6 different rounding sent the other way: H̄ 2.8e-3 apart from the
// route without Winograd (GRNEWT_WINOGRAD=0), where float32's own rounding moves it by ~1e-6.
import { afterEach, describe, expect, it } from 'vitest';
import * as g from '../lib';

function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>) {
  let diff = 0,
    scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

describe("the Taylor route's Winograd convolutions", () => {
  const threads = g.getNumThreads();
  afterEach(() => {
    delete process.env.GRNEWT_WINOGRAD;
    g.setNumThreads(threads);
  });

  it('leave the max-pools and relus to the values: VGG-11 in float32 on 2 threads, with and without them', () => {
    g.manualSeed(0);
    const model = new g.models.VGG();
    const B = 16;
    const x = g.randn([B, 3, 32, 32]);
    const y = g.tensor(
      Array.from({ length: B }, (_, i) => (i * 7) % 10),
      { dtype: 'int64' },
    );
    const { paramGroups } = g.partition.canonical(model);
    const direction = model.parameters().map((p) => g.randn(p.shape).mul(1e-2));
    g.setNumThreads(2);
    const summaries = (winograd: '0' | '1') => {
      process.env.GRNEWT_WINOGRAD = winograd;
      const { H, g: gbar, order3 } = g.computeHgTaylor(model, paramGroups, x, y, direction);
      return { H: H.toArray(), g: gbar.toArray(), order3: order3.toArray() };
    };
    const direct = summaries('0'),
      winograd = summaries('1');
    for (const k of ['H', 'g', 'order3'] as const) expect(maxRelative(winograd[k], direct[k])).toBeLessThan(1e-5);
  });
});
