// Each built-in model's forward pass against the same network written out in plain float64 JS loops (linear
// layers, 2-D convolutions, 2×2 max-pools, activations, log-softmax), for fixed weights on small sizes:
// values, not only shapes.
import { describe, it } from 'vitest';
import { models, tensor, type nn } from '../lib';
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
  const n = x.length, s = scaling ? Math.sqrt(n) : 1;
  return Array.from(b, (bi, o) => {
    let acc = bi;
    for (let i = 0; i < n; i++) acc += (W[o * n + i] * x[i]) / s;
    return acc;
  });
}

/** Cross-correlation as torch's conv2d: W [out, in, k, k] row-major, stride 1, zero padding p. */
function conv(W: Float64Array, b: Float64Array, x: number[][][], k: number, p: number, scaling = false): number[][][] {
  const cin = x.length, h = x[0].length, w = x[0][0].length, s = scaling ? Math.sqrt(cin * k * k) : 1;
  const oh = h + 2 * p - k + 1, ow = w + 2 * p - k + 1;
  return Array.from(b, (bo, o) => Array.from({ length: oh }, (_, i) => Array.from({ length: ow }, (_, j) => {
    let acc = bo;
    for (let c = 0; c < cin; c++) {
      for (let di = 0; di < k; di++) {
        for (let dj = 0; dj < k; dj++) {
          const r = i + di - p, q = j + dj - p;
          if (r >= 0 && r < h && q >= 0 && q < w) acc += (W[((o * cin + c) * k + di) * k + dj] * x[c][r][q]) / s;
        }
      }
    }
    return acc;
  })));
}

/** 2×2 max-pool, stride 2, odd edges dropped (torch's floor mode). */
function pool(x: number[][][]): number[][][] {
  return x.map((m) => Array.from({ length: Math.floor(m.length / 2) }, (_, i) =>
    Array.from({ length: Math.floor(m[0].length / 2) }, (_, j) => Math.max(m[2 * i][2 * j], m[2 * i][2 * j + 1], m[2 * i + 1][2 * j], m[2 * i + 1][2 * j + 1]))));
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
  const state = Object.fromEntries(model.namedParameters().map(([name, p], k) => {
    byName[name] = values(p.numel, 1000 + 17 * k, -scale, scale);
    return [name, tensor(byName[name], { shape: p.shape, dtype: 'float64' })];
  }));
  model.loadStateDict(state);
  return byName;
}

function images(n: number, c: number, side: number, seed: number) {
  const data = values(n * c * side * side, seed, -1, 1);
  const example = (e: number) => Array.from({ length: c }, (_, ch) => Array.from({ length: side }, (_, i) =>
    Array.from(data.subarray(((e * c + ch) * side + i) * side, ((e * c + ch) * side + i + 1) * side))));
  return { x: tensor(data, { shape: [n, c, side, side], dtype: 'float64' }), example };
}

function expectForward(model: nn.Module & { forward(x: ReturnType<typeof tensor>): ReturnType<typeof tensor> }, x: ReturnType<typeof tensor>, expected: number[][]): void {
  expectClose(model.forward(x).toArray() as Float64Array, expected.flat(), 1e-12, 1e-14);
}

describe('built-in models: forward values against plain JS loops (float64, fixed weights)', () => {
  it('Perceptron: tanh with log-softmax; ELU with scaling and no classification head', () => {
    const { x, example } = images(3, 1, 3, 7); // reshaped to 9 features
    const tanhNet = new models.Perceptron([9, 5, 4, 3], { activation: 'tanh', dtype: 'float64' });
    const w = fixWeights(tanhNet);
    expectForward(tanhNet, x, [0, 1, 2].map((e) => {
      let h = flatten(example(e));
      h = linear(w['layers.0.weight'], w['layers.0.bias'], h).map(Math.tanh);
      h = linear(w['layers.1.weight'], w['layers.1.bias'], h).map(Math.tanh);
      return logSoftmax(linear(w['layers.2.weight'], w['layers.2.bias'], h));
    }));

    const eluNet = new models.Perceptron([9, 6, 2], { activation: 'elu', scaling: true, classification: false, dtype: 'float64' });
    const v = fixWeights(eluNet, 2);
    expectForward(eluNet, x, [0, 1, 2].map((e) => {
      const h = linear(v['layers.0.weight'], v['layers.0.bias'], flatten(example(e)), true).map(act.elu);
      return linear(v['layers.1.weight'], v['layers.1.bias'], h, true);
    }));
  });

  it('LeNet: conv 5×5 → tanh → pool, twice, three linear layers, log-softmax (20×20 input)', () => {
    const net = new models.LeNet([2, 3, 4, 5, 4, 3], { inputSize: 20, dtype: 'float64' });
    const w = fixWeights(net, 0.3);
    const { x, example } = images(2, 2, 20, 11);
    expectForward(net, x, [0, 1].map((e) => {
      let h = pool(map3(conv(w['conv1.weight'], w['conv1.bias'], example(e), 5, 0), Math.tanh)); // 3×8×8
      h = pool(map3(conv(w['conv2.weight'], w['conv2.bias'], h, 5, 0), Math.tanh)); // 4×2×2
      let f = flatten(h);
      f = linear(w['fc1.weight'], w['fc1.bias'], f).map(Math.tanh);
      f = linear(w['fc2.weight'], w['fc2.bias'], f).map(Math.tanh);
      return logSoftmax(linear(w['fc3.weight'], w['fc3.bias'], f));
    }));
  });

  it('VGG: 3×3 convolutions with padding 1, ReLU, max-pools, classifier, log-softmax; and with scaling', () => {
    for (const scaling of [false, true]) {
      const net = new models.VGG({ config: [3, 'M', 2, 4, 'M'], fcSizes: [5], imageSize: 32, inChannels: 2, numClasses: 3, scaling, dtype: 'float64' });
      const w = fixWeights(net, 0.5);
      const { x, example } = images(2, 2, 32, 13);
      expectForward(net, x, [0, 1].map((e) => {
        let h = pool(map3(conv(w['features.0.weight'], w['features.0.bias'], example(e), 3, 1, scaling), act.relu)); // 3×16×16
        h = map3(conv(w['features.3.weight'], w['features.3.bias'], h, 3, 1, scaling), act.relu); // 2×16×16
        h = pool(map3(conv(w['features.5.weight'], w['features.5.bias'], h, 3, 1, scaling), act.relu)); // 4×8×8
        const f = linear(w['classifier.0.weight'], w['classifier.0.bias'], flatten(h), scaling).map(act.relu);
        return logSoftmax(linear(w['classifier.2.weight'], w['classifier.2.bias'], f, scaling));
      }));
    }
  });

  it('AutoencoderMLP: encoder and mirrored decoder, activation between layers, sigmoid output', () => {
    const net = new models.AutoencoderMLP([6, 4, 2], { activation: 'sigmoid', dtype: 'float64' });
    const w = fixWeights(net, 1.5);
    const data = values(18, 17, -1, 1);
    const x = tensor(data, { shape: [3, 1, 2, 3], dtype: 'float64' }); // flattened by the model to [3, 6]
    const rows = [0, 1, 2].map((e) => Array.from(data.subarray(6 * e, 6 * e + 6)));
    expectForward(net, x, rows.map((h0) => {
      let h = linear(w['layers_enc.0.weight'], w['layers_enc.0.bias'], h0).map(act.sigmoid);
      h = linear(w['layers_enc.1.weight'], w['layers_enc.1.bias'], h); // no activation after the encoder's last layer
      h = linear(w['layers_dec.0.weight'], w['layers_dec.0.bias'], h).map(act.sigmoid);
      return linear(w['layers_dec.1.weight'], w['layers_dec.1.bias'], h).map(act.sigmoid);
    }));
  });
});
