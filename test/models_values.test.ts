// Each built-in model's forward pass against the same network written out in plain float64 JS loops (linear
// layers, 2-D convolutions, 2×2 max-pools, activations, log-softmax), for fixed weights on small sizes:
// values, not only shapes.
import { describe, it } from 'vitest';
import { models, nn, tensor } from '../lib';
import { expectClose, values } from './helpers';

// ---- A tiny reference implementation. Activations are [channels][rows][cols] or flat vectors, one example at a time.
type Act = (x: number) => number;
const act: Record<string, Act> = {
  tanh: Math.tanh,
  relu: (x) => Math.max(0, x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  elu: (x) => (x > 0 ? x : Math.expm1(x)),
  identity: (x) => x,
};

/** y = W x + b, W given row-major [out, in]; x divided by √in first under `scaling`. */
function linear(W: Float64Array, b: Float64Array, x: number[], scaling = false): number[] {
  const n = x.length,
    s = scaling ? Math.sqrt(n) : 1;
  return Array.from(b, (bi, o) => {
    let acc = bi;
    for (let i = 0; i < n; i++) acc += (W[o * n + i] * x[i]) / s;
    return acc;
  });
}

type Pair = [number, number];
interface Window {
  kernel: Pair;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}
/** Output side of a sliding window (torch's floor mode). */
const outSide = (n: number, k: number, s: number, p: number, d: number) => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;

/** Cross-correlation as torch's conv2d: W [out, in/groups, kh, kw] row-major, zero padding. */
function conv(W: Float64Array, b: Float64Array | null, x: number[][][], win: Window & { groups?: number }, scaling = false): number[][][] {
  const [kh, kw] = win.kernel,
    [sh, sw] = win.stride ?? [1, 1],
    [ph, pw] = win.padding ?? [0, 0],
    [dh, dw] = win.dilation ?? [1, 1];
  const groups = win.groups ?? 1,
    cin = x.length / groups,
    h = x[0].length,
    w = x[0][0].length;
  const cout = W.length / (cin * kh * kw),
    s = scaling ? Math.sqrt(cin * kh * kw) : 1;
  return Array.from({ length: cout }, (_, o) => {
    const first = Math.floor(o / (cout / groups)) * cin; // the group's first input channel
    return Array.from({ length: outSide(h, kh, sh, ph, dh) }, (_, i) =>
      Array.from({ length: outSide(w, kw, sw, pw, dw) }, (_, j) => {
        let acc = b ? b[o] : 0;
        for (let c = 0; c < cin; c++) {
          for (let di = 0; di < kh; di++) {
            for (let dj = 0; dj < kw; dj++) {
              const r = i * sh + di * dh - ph,
                q = j * sw + dj * dw - pw;
              if (r >= 0 && r < h && q >= 0 && q < w) acc += (W[((o * cin + c) * kh + di) * kw + dj] * x[first + c][r][q]) / s;
            }
          }
        }
        return acc;
      }),
    );
  });
}

/** Max-pool as torch's max_pool2d (padding counts as −∞; stride defaults to the kernel). */
function pool(x: number[][][], win: Window = { kernel: [2, 2] }): number[][][] {
  const [kh, kw] = win.kernel,
    [sh, sw] = win.stride ?? win.kernel,
    [ph, pw] = win.padding ?? [0, 0],
    [dh, dw] = win.dilation ?? [1, 1];
  return x.map((m) =>
    Array.from({ length: outSide(m.length, kh, sh, ph, dh) }, (_, i) =>
      Array.from({ length: outSide(m[0].length, kw, sw, pw, dw) }, (_, j) => {
        let best = -Infinity;
        for (let di = 0; di < kh; di++) {
          for (let dj = 0; dj < kw; dj++) {
            const r = i * sh + di * dh - ph,
              q = j * sw + dj * dw - pw;
            if (r >= 0 && r < m.length && q >= 0 && q < m[0].length) best = Math.max(best, m[r][q]);
          }
        }
        return best;
      }),
    ),
  );
}

const map3 = (x: number[][][], f: Act) => x.map((m) => m.map((row) => row.map(f)));
const flatten = (x: number[][][]) => x.flat(2);

function logSoftmax(x: number[]): number[] {
  const m = Math.max(...x);
  const lse = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
}

// ---- Fixed weights and inputs.
/** Gives every parameter of the model deterministic values (seeded by its position), returned by name. */
function fixWeights(model: nn.Module, scale = 1): Record<string, Float64Array> {
  const byName: Record<string, Float64Array> = {};
  const state = Object.fromEntries(
    model.namedParameters().map(([name, p], k) => {
      byName[name] = values(p.numel, 1000 + 17 * k, -scale, scale);
      return [name, tensor(byName[name], { shape: p.shape, dtype: 'float64' })];
    }),
  );
  model.loadStateDict(state);
  return byName;
}

function images(n: number, c: number, side: number, seed: number) {
  const data = values(n * c * side * side, seed, -1, 1);
  const example = (e: number) =>
    Array.from({ length: c }, (_, ch) =>
      Array.from({ length: side }, (_, i) =>
        Array.from(data.subarray(((e * c + ch) * side + i) * side, ((e * c + ch) * side + i + 1) * side)),
      ),
    );
  return { x: tensor(data, { shape: [n, c, side, side], dtype: 'float64' }), example };
}

function expectForward(
  model: nn.Module & { forward(x: ReturnType<typeof tensor>): ReturnType<typeof tensor> },
  x: ReturnType<typeof tensor>,
  expected: number[][],
): void {
  expectClose(model.forward(x).toArray() as Float64Array, expected.flat(), 1e-12, 1e-14);
}

const same3: Window = { kernel: [3, 3], padding: [1, 1] };

describe('built-in models: forward values against plain JS loops (float64, fixed weights)', () => {
  it('Perceptron: tanh with log-softmax; ELU with scaling and no classification head', () => {
    const { x, example } = images(3, 1, 3, 7); // reshaped to 9 features
    const tanhNet = new models.Perceptron([9, 5, 4, 3], { activation: 'tanh', dtype: 'float64' });
    const w = fixWeights(tanhNet);
    expectForward(
      tanhNet,
      x,
      [0, 1, 2].map((e) => {
        let h = flatten(example(e));
        h = linear(w['layers.0.weight'], w['layers.0.bias'], h).map(Math.tanh);
        h = linear(w['layers.1.weight'], w['layers.1.bias'], h).map(Math.tanh);
        return logSoftmax(linear(w['layers.2.weight'], w['layers.2.bias'], h));
      }),
    );

    const eluNet = new models.Perceptron([9, 6, 2], { activation: 'elu', scaling: true, classification: false, dtype: 'float64' });
    const v = fixWeights(eluNet, 2);
    expectForward(
      eluNet,
      x,
      [0, 1, 2].map((e) => {
        const h = linear(v['layers.0.weight'], v['layers.0.bias'], flatten(example(e)), true).map(act.elu);
        return linear(v['layers.1.weight'], v['layers.1.bias'], h, true);
      }),
    );
  });

  it('LeNet: conv 5×5 → tanh → pool, twice, three linear layers, log-softmax (20×20 input)', () => {
    const net = new models.LeNet([2, 3, 4, 5, 4, 3], { inputSize: 20, dtype: 'float64' });
    const w = fixWeights(net, 0.3);
    const { x, example } = images(2, 2, 20, 11);
    expectForward(
      net,
      x,
      [0, 1].map((e) => {
        let h = pool(map3(conv(w['conv1.weight'], w['conv1.bias'], example(e), { kernel: [5, 5] }), Math.tanh)); // 3×8×8
        h = pool(map3(conv(w['conv2.weight'], w['conv2.bias'], h, { kernel: [5, 5] }), Math.tanh)); // 4×2×2
        let f = flatten(h);
        f = linear(w['fc1.weight'], w['fc1.bias'], f).map(Math.tanh);
        f = linear(w['fc2.weight'], w['fc2.bias'], f).map(Math.tanh);
        return logSoftmax(linear(w['fc3.weight'], w['fc3.bias'], f));
      }),
    );
  });

  it('VGG: 3×3 convolutions with padding 1, ReLU, max-pools, classifier, log-softmax; and with scaling', () => {
    for (const scaling of [false, true]) {
      const net = new models.VGG({
        config: [3, 'M', 2, 4, 'M'],
        fcSizes: [5],
        imageSize: 32,
        inChannels: 2,
        numClasses: 3,
        scaling,
        dtype: 'float64',
      });
      const w = fixWeights(net, 0.5);
      const { x, example } = images(2, 2, 32, 13);
      expectForward(
        net,
        x,
        [0, 1].map((e) => {
          let h = pool(map3(conv(w['features.0.weight'], w['features.0.bias'], example(e), same3, scaling), act.relu)); // 3×16×16
          h = map3(conv(w['features.3.weight'], w['features.3.bias'], h, same3, scaling), act.relu); // 2×16×16
          h = pool(map3(conv(w['features.5.weight'], w['features.5.bias'], h, same3, scaling), act.relu)); // 4×8×8
          const f = linear(w['classifier.0.weight'], w['classifier.0.bias'], flatten(h), scaling).map(act.relu);
          return logSoftmax(linear(w['classifier.2.weight'], w['classifier.2.bias'], f, scaling));
        }),
      );
    }
  });

  it('AutoencoderMLP: encoder and mirrored decoder, activation between layers, sigmoid output', () => {
    const net = new models.AutoencoderMLP([6, 4, 2], { activation: 'sigmoid', dtype: 'float64' });
    const w = fixWeights(net, 1.5);
    const data = values(18, 17, -1, 1);
    const x = tensor(data, { shape: [3, 1, 2, 3], dtype: 'float64' }); // flattened by the model to [3, 6]
    const rows = [0, 1, 2].map((e) => Array.from(data.subarray(6 * e, 6 * e + 6)));
    expectForward(
      net,
      x,
      rows.map((h0) => {
        let h = linear(w['layers_enc.0.weight'], w['layers_enc.0.bias'], h0).map(act.sigmoid);
        h = linear(w['layers_enc.1.weight'], w['layers_enc.1.bias'], h); // no activation after the encoder's last layer
        h = linear(w['layers_dec.0.weight'], w['layers_dec.0.bias'], h).map(act.sigmoid);
        return linear(w['layers_dec.1.weight'], w['layers_dec.1.bias'], h).map(act.sigmoid);
      }),
    );
  });
});

describe('nn layers: values with every Conv2d and MaxPool2d setting (not only shapes)', () => {
  it('Sequential(Conv2d with stride, padding, dilation, groups; Sigmoid; MaxPool2d with stride, padding, dilation; Flatten; Linear; ELU)', () => {
    const f64 = { dtype: 'float64' as const };
    const convWin = { kernel: [3, 2] as Pair, stride: [2, 1] as Pair, padding: [1, 2] as Pair, dilation: [1, 2] as Pair, groups: 2 };
    const poolWin = { kernel: [2, 3] as Pair, stride: [1, 2] as Pair, padding: [1, 1] as Pair, dilation: [2, 1] as Pair };
    const convLayer = new nn.Conv2d(4, 6, convWin.kernel, {
      stride: convWin.stride,
      padding: convWin.padding,
      dilation: convWin.dilation,
      groups: 2,
      ...f64,
    });
    const poolLayer = new nn.MaxPool2d(poolWin.kernel, { stride: poolWin.stride, padding: poolWin.padding, dilation: poolWin.dilation });
    const { x, example } = images(2, 4, 7, 23);
    const conv7 = conv(new Float64Array(6 * 2 * 3 * 2), null, example(0), convWin); // only for the sizes
    const pooled = pool(conv7, poolWin);
    const features = pooled.length * pooled[0].length * pooled[0][0].length;
    const net = new nn.Sequential(convLayer, new nn.Sigmoid(), poolLayer, new nn.Flatten(), new nn.Linear(features, 3, f64), new nn.ELU());
    const w = fixWeights(net, 0.8);
    expectForward(
      net,
      x,
      [0, 1].map((e) => {
        const h = pool(map3(conv(w['0.weight'], w['0.bias'], example(e), convWin), act.sigmoid), poolWin);
        return linear(w['4.weight'], w['4.bias'], flatten(h)).map(act.elu);
      }),
    );
  });
});
