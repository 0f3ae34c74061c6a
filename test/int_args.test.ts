// Integer arguments that reach libtorch are range-checked, at both layers: the façade (RangeError naming the
// argument) and the native boundary, where every integer read from JS goes through one checked conversion
// with an explicit range. libtorch keeps several of them in 32-bit ints: 2**32 groups became 0 and crashed
// the process with SIGFPE. Every native export is listed below, with its integer arguments or as having
// none, so a new export cannot slip past this test.
import { describe, expect, it } from 'vitest';
import * as g from '../lib';
import { losses, nn, ones, randn, tensor, zeros } from '../lib';
import { native } from '../lib/core/native';

const HUGE = [2 ** 31, 2 ** 32, -(2 ** 31) - 1, 2 ** 53, 2 ** 64];

describe('the façade refuses out-of-range integers, naming the argument', () => {
  const x = () => randn([1, 2, 6, 6]);
  const w = () => randn([2, 2, 3, 3]);
  const table: Array<[string, (v: number) => unknown]> = [
    ['conv2d groups', (v) => zeros([1, 0, 4, 4]).conv2d(zeros([0, 0, 1, 1]), null, { groups: v })],
    ['conv2d stride', (v) => x().conv2d(w(), null, { stride: v })],
    ['conv2d stride[1]', (v) => x().conv2d(w(), null, { stride: [1, v] })],
    ['conv2d padding', (v) => x().conv2d(w(), null, { padding: v })],
    ['conv2d dilation', (v) => x().conv2d(w(), null, { dilation: [v, 1] })],
    ['maxPool2d kernelSize', (v) => x().maxPool2d(v)],
    ['maxPool2d stride', (v) => x().maxPool2d(2, { stride: v })],
    ['maxPool2d padding', (v) => x().maxPool2d(2, { padding: v })],
    ['maxPool2d dilation', (v) => x().maxPool2d(2, { dilation: v })],
    ['nn.Conv2d kernelSize', (v) => new nn.Conv2d(1, 1, v)],
    ['nn.Conv2d groups', (v) => new nn.Conv2d(1, 1, 1, { groups: v })],
    ['nn.Conv2d stride', (v) => new nn.Conv2d(1, 1, 1, { stride: v })],
    ['nn.MaxPool2d kernelSize', (v) => new nn.MaxPool2d(v)],
    ['nn.MaxPool2d padding', (v) => new nn.MaxPool2d(2, { padding: v })],
    ['pad pads', (v) => ones([2, 2]).pad([v, 0])],
    ['transpose dim0', (v) => ones([2, 2]).transpose(v, 0)],
    ['logSoftmax dim', (v) => ones([2, 2]).logSoftmax(v)],
    ['softmax dim', (v) => ones([2, 2]).softmax(v)],
    ['argmax dim', (v) => ones([2, 2]).argmax(v)],
    ['sum dim', (v) => ones([2, 2]).sum(v)],
    ['mean dim', (v) => ones([2, 2]).mean([v])],
    ['gather dim', (v) => ones([2, 2]).gather(v, tensor([[0, 1]], { dtype: 'int64' }))],
    ['indexSelect dim', (v) => ones([2, 2]).indexSelect(v, tensor([0], { dtype: 'int64' }))],
    ['reshape shape', (v) => ones([2, 2]).reshape([v])],
    ['setNumThreads n', (v) => g.setNumThreads(v)],
    ['nll target', (v) => losses.nll(ones([2, 3]).logSoftmax(1), tensor([0, v], { dtype: 'int64' }))],
    ['crossEntropy target', (v) => losses.crossEntropy(ones([2, 3]), tensor([v, 0], { dtype: 'int64' }))],
  ];
  for (const [what, call] of table) {
    it(what, () => {
      for (const v of HUGE) expect(() => call(v), `${what} = ${v}`).toThrow(RangeError);
    });
  }

  it('the crash itself: groups = 2**32 on zero-channel tensors', () => {
    expect(() => zeros([1, 0, 4, 4]).conv2d(zeros([0, 0, 1, 1]), null, { groups: 2 ** 32 })).toThrow(
      /groups must be an integer ≤ 2147483647/,
    );
  });
});

// The native boundary: each export's integer arguments, called with everything else valid.
type Call = (v: number) => unknown;
function nativeTable(): Record<string, Array<[string, Call]>> {
  const n = native();
  const h = (t: g.Tensor) => t.handle('test');
  const x = () => h(randn([1, 2, 6, 6])),
    wt = () => h(randn([2, 2, 3, 3])),
    m = () => h(ones([2, 2]));
  const idx = () => h(tensor([[0, 1]], { dtype: 'int64' }));
  const param = () => {
    const p = randn([2], { requiresGrad: true });
    p.mul(p).sum().backward();
    return h(p);
  };
  const lossGraph = () => {
    const p = randn([2], { requiresGrad: true });
    return { loss: h(p.mul(p).sum()), params: [[h(p)]], dir: [[h(ones([2]))]] };
  };
  const taylor = (step: Record<string, unknown>, groups = 1) => {
    const lin = randn([3, 4], { requiresGrad: true });
    return n.taylorHg(
      [{ kind: 'linear', weight: h(lin), dweight: h(ones([3, 4])), weightGroup: 0, ...step } as never],
      h(randn([2, 4])),
      h(randn([2, 3])),
      { loss: 'mse', groups, noregul: false, diagonal: false },
    );
  };
  const conv = (o: Record<string, unknown>) => {
    const k = randn([2, 1, 3, 3], { requiresGrad: true });
    return n.taylorHg(
      [
        {
          kind: 'conv2d',
          weight: h(k),
          dweight: h(ones([2, 1, 3, 3])),
          weightGroup: 0,
          stride: [1, 1],
          padding: [0, 0],
          dilation: [1, 1],
          groups: 1,
          ...o,
        } as never,
        { kind: 'flatten' } as never,
      ],
      h(randn([1, 1, 5, 5])),
      h(randn([1, 18])),
      { loss: 'mse', groups: 1, noregul: false, diagonal: false },
    );
  };
  const pool = (o: Record<string, unknown>) => {
    const k = randn([1, 1, 1, 1], { requiresGrad: true });
    return n.taylorHg(
      [
        {
          kind: 'conv2d',
          weight: h(k),
          dweight: h(ones([1, 1, 1, 1])),
          weightGroup: 0,
          stride: [1, 1],
          padding: [0, 0],
          dilation: [1, 1],
          groups: 1,
        } as never,
        { kind: 'maxPool2d', kernelSize: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false, ...o } as never,
        { kind: 'flatten' } as never,
      ],
      h(randn([1, 1, 4, 4])),
      h(randn([1, 4])),
      { loss: 'mse', groups: 1, noregul: false, diagonal: false },
    );
  };
  return {
    fromData: [['shape', (v) => n.fromData(new Float32Array(1), [v], 'float32', 'cpu', false)]],
    zeros: [['shape', (v) => n.zeros([v], 'float32', 'cpu', false)]],
    ones: [['shape', (v) => n.ones([v, v], 'float32', 'cpu', false)]],
    randn: [['shape', (v) => n.randn([v], 'float32', 'cpu', false)]],
    rand: [['shape', (v) => n.rand([v], 'float32', 'cpu', false)]],
    sum: [['dim', (v) => n.sum(m(), [v], false)]],
    mean: [['dim', (v) => n.mean(m(), [v], false)]],
    amax: [['dim', (v) => n.amax(m(), [v], false)]],
    amin: [['dim', (v) => n.amin(m(), [v], false)]],
    reshape: [['shape', (v) => n.reshape(m(), [v])]],
    narrow: [
      ['dim', (v) => n.narrow(m(), v, 0, 1)],
      ['start', (v) => n.narrow(m(), 0, v, 1)],
      ['length', (v) => n.narrow(m(), 0, 0, v)],
    ],
    cat: [['dim', (v) => n.cat([m(), m()], v)]],
    stack: [['dim', (v) => n.stack([m(), m()], v)]],
    transpose: [
      ['dim0', (v) => n.transpose(m(), v, 0)],
      ['dim1', (v) => n.transpose(m(), 0, v)],
    ],
    permute: [['dims', (v) => n.permute(m(), [v, 0])]],
    logSoftmax: [['dim', (v) => n.logSoftmax(m(), v)]],
    softmax: [['dim', (v) => n.softmax(m(), v)]],
    gather: [['dim', (v) => n.gather(m(), v, idx())]],
    indexSelect: [['dim', (v) => n.indexSelect(m(), v, h(tensor([0], { dtype: 'int64' })))]],
    argmax: [['dim', (v) => n.argmax(m(), v)]],
    pad: [['pads', (v) => n.pad(m(), [v, 0], 0)]],
    conv2d: [
      ['stride', (v) => n.conv2d(x(), wt(), null, [v, 1], [0, 0], [1, 1], 1)],
      ['padding', (v) => n.conv2d(x(), wt(), null, [1, 1], [0, v], [1, 1], 1)],
      ['dilation', (v) => n.conv2d(x(), wt(), null, [1, 1], [0, 0], [v, 1], 1)],
      ['groups', (v) => n.conv2d(h(zeros([1, 0, 4, 4])), h(zeros([0, 0, 1, 1])), null, [1, 1], [0, 0], [1, 1], v)],
    ],
    maxPool2d: [
      ['kernelSize', (v) => n.maxPool2d(x(), [v, 2], [2, 2], [0, 0], [1, 1], false)],
      ['stride', (v) => n.maxPool2d(x(), [2, 2], [2, v], [0, 0], [1, 1], false)],
      ['padding', (v) => n.maxPool2d(x(), [2, 2], [2, 2], [v, 0], [1, 1], false)],
      ['dilation', (v) => n.maxPool2d(x(), [2, 2], [2, 2], [0, 0], [1, v], false)],
    ],
    manualSeed: [['seed', (v) => n.manualSeed(v)]],
    asStrided: [
      ['strides', (v) => n.asStrided(h(zeros([4])), [1], [v], 0)],
      ['offset', (v) => n.asStrided(h(zeros([4])), [1], [1], v)],
    ],
    setNumThreads: [['n', (v) => n.setNumThreads(v)]],
    benchAddLoop: [['iterations', (v) => n.benchAddLoop(v)]],
    diffN: [
      [
        'order',
        (v) => {
          const l = lossGraph();
          return n.diffN(l.loss, l.params, l.dir, v);
        },
      ],
    ],
    adamStep: [
      ['options.step', (v) => n.adamStep(param(), null, null, { step: v, lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 })],
    ],
    adamStepStaysFinite: [
      [
        'options.step',
        (v) => n.adamStepStaysFinite(param(), null, null, { step: v, lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }),
      ],
    ],
    adamDirectionStaysFinite: [
      ['options.step', (v) => n.adamDirectionStaysFinite(param(), null, null, { step: v, beta1: 0.9, beta2: 0.999, eps: 1e-8 })],
    ],
    adamDirection: [['options.step', (v) => n.adamDirection(param(), null, null, { step: v, beta1: 0.9, beta2: 0.999, eps: 1e-8 })]],
    distributedInit: (['rank', 'worldSize', 'masterPort', 'timeoutMs', 'localRank'] as const).map(
      (key) =>
        [
          `options.${key}`,
          (v: number) =>
            n.distributedInit({
              backend: 'gloo',
              rank: 0,
              worldSize: 1,
              masterAddr: '127.0.0.1',
              masterPort: 29500,
              timeoutMs: 1000,
              localRank: -1,
              [key]: v,
            }),
        ] as [string, Call],
    ),
    distributedBroadcast: [['src', (v) => n.distributedBroadcast([m()], v)]],
    distributedBroadcastSync: [['src', (v) => n.distributedBroadcastSync([m()], v)]],
    taylorHg: [
      ['options.groups', (v) => taylor({}, v)],
      ['weightGroup', (v) => taylor({ weightGroup: v })],
      ['conv stride', (v) => conv({ stride: [v, 1] })],
      ['conv padding', (v) => conv({ padding: [0, v] })],
      ['conv dilation', (v) => conv({ dilation: [v, 1] })],
      ['conv groups', (v) => conv({ groups: v })],
      ['pool kernelSize', (v) => pool({ kernelSize: [v, 2] })],
      ['pool stride', (v) => pool({ stride: [2, v] })],
      ['pool padding', (v) => pool({ padding: [v, 0] })],
      ['pool dilation', (v) => pool({ dilation: [1, v] })],
    ],
  };
}
// Exports without integer arguments (or whose integer-like arguments are real numbers, like dampingInt).
const NO_INTEGER_ARGS = [
  'shape',
  'dtype',
  'device',
  'requiresGrad',
  'isLeaf',
  'setRequiresGrad',
  'grad',
  'clearGrad',
  'assign',
  'toArray',
  'item',
  'backward',
  'detach',
  'to',
  'clone',
  'dispose',
  'memory',
  'emptyCache',
  'sweep',
  'resetPeakMemory',
  'setCacheLimit',
  'numThreads',
  'cudaAvailable',
  'torchVersion',
  'neg',
  'exp',
  'log',
  'sqrt',
  'abs',
  'tanh',
  'relu',
  'sigmoid',
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'elu',
  'clampMin',
  'matmul',
  'computeHg',
  'computeHgAsync',
  'gradients',
  'nesterovLrs',
  'ridgeLrs',
  'sgdStep',
  'sgdStepStaysFinite',
  'momentumDirection',
  'momentumDirectionStaysFinite',
  'applyUpdate',
  'updateStaysFinite',
  'allFinite',
  'setGradEnabled',
  'gradEnabled',
  'eq',
  'taylorHgAsync',
  'taylorHgProfile', // read their arguments with taylorHg's code (taylor_call_from_js), tested through taylorHg
  'distributedState',
  'distributedAllReduce',
  'distributedAllReduceSync',
  'distributedAllGather',
  'distributedBarrier',
  'distributedDestroy',
];

const SIZE_ARGS = new Set([
  'asStrided: strides',
  'asStrided: offset',
  'fromData: shape',
  'zeros: shape',
  'ones: shape',
  'randn: shape',
  'rand: shape',
  'reshape: shape',
  'narrow: start',
  'narrow: length',
  'manualSeed: seed',
  'adamStep: options.step',
  'adamStepStaysFinite: options.step',
  'adamDirection: options.step',
  'adamDirectionStaysFinite: options.step',
]);

describe('the native boundary range-checks every integer argument of every export', () => {
  const table = nativeTable();

  it('every export is listed, with its integer arguments or as having none', () => {
    const listed = new Set([...Object.keys(table), ...NO_INTEGER_ARGS]);
    expect(Object.keys(native()).filter((name) => !listed.has(name))).toEqual([]);
  });

  for (const [name, args] of Object.entries(table)) {
    for (const [arg, call] of args) {
      it(`${name}: ${arg}`, () => {
        // Sizes may exceed 32 bits (their product is checked by libtorch): only beyond 2**53 - 1 for them.
        const values = SIZE_ARGS.has(`${name}: ${arg}`) ? [2 ** 53, -(2 ** 53), 2 ** 64] : [2 ** 32, 2 ** 53, -(2 ** 53), 2 ** 64];
        for (const v of values) {
          expect(() => call(v), `${name} ${arg} = ${v}`).toThrow(/must be an integer in -?\d+\.\.\d+, got/);
        }
        expect(() => call(1.5)).toThrow(RangeError);
        expect(() => call(NaN)).toThrow(RangeError);
      });
    }
  }
});
