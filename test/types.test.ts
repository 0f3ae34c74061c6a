// Types that follow the data, checked by the compiler as a user's strict TypeScript would meet them: each
// line below must compile, and each `@ts-expect-error` line must not (else the compiler reports it).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileStrict, emitDeclarations, writeFile } from './typescript';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-types-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const CHECKS = `
import * as grnewt from 'DTS';

const f32: Float32Array = grnewt.tensor([[1, 2], [3, 4]]).toArray();
const f64: Float64Array = grnewt.tensor([1, 2], { dtype: 'float64' }).toArray();
const f64b: Float64Array = grnewt.tensor(new Float64Array(4), { shape: [2, 2] }).toArray();
const i64: BigInt64Array = grnewt.tensor([1n, 2n]).toArray();
const i64b: BigInt64Array = grnewt.tensor(new Int32Array(3)).toArray();
const i64c: BigInt64Array = grnewt.tensor([1, 2], { dtype: 'int64' }).toArray();
const z64: Float64Array = grnewt.zeros([2], { dtype: 'float64' }).toArray();
const z32: Float32Array = grnewt.ones([2]).toArray();
const r64: Float64Array = grnewt.randn([2], { dtype: 'float64', requiresGrad: true }).toArray();
// @ts-expect-error randn has no int64
grnewt.randn([2], { dtype: 'int64' });
const conv: Float64Array = grnewt.tensor([1, 2]).to({ dtype: 'float64' }).toArray();
const same: Float32Array = grnewt.tensor([1, 2]).to({ device: 'cpu' }).toArray();
const kept: Float64Array = grnewt.tensor([1, 2], { dtype: 'float64' }).tanh().mul(2).sum().reshape([1]).detach().toArray();
const grad: Float64Array | undefined = grnewt.tensor([1], { dtype: 'float64', requiresGrad: true }).grad?.toArray();
const idx: BigInt64Array = grnewt.tensor([[1, 2]]).argmax(1).toArray();
const hits: Float32Array = grnewt.eq(grnewt.tensor([1n]), 1).toArray();
const anyDtype: Float32Array | Float64Array | BigInt64Array = (grnewt.tensor([1]) as grnewt.Tensor).toArray();
// @ts-expect-error a float32 tensor does not give a Float64Array
const wrong: Float64Array = grnewt.tensor([1, 2]).toArray();
// @ts-expect-error an int64 tensor's values are bigints
const wrong2: Float32Array = grnewt.tensor([1n]).toArray();
const mapped: number[] = Array.from(grnewt.tensor([1, 2]).toArray(), (v) => v * 2); // no cast needed
const typed: grnewt.Tensor = grnewt.tensor([1], { dtype: 'float64' }); // a Tensor<'float64'> is a Tensor
const mixed = grnewt.tensor([1], { dtype: 'float64' }).matmul(grnewt.randn([1, 1]) as grnewt.Tensor);
const list: grnewt.NestedList<number> = grnewt.tensor([[1, 2]]).tolist();
const big: grnewt.NestedList<bigint> = grnewt.tensor([1n]).tolist();
const json: string = JSON.stringify(grnewt.tensor([1]));
const loaded = grnewt.load<{ epoch: number; w: grnewt.Tensor }>('x.ckpt');
const epoch: number = loaded.epoch;
const unknownByDefault = grnewt.load('x.ckpt');
// @ts-expect-error load() without a type gives unknown, not any
unknownByDefault.epoch;
const acc: number = grnewt.accuracy(grnewt.randn([2, 3]), grnewt.tensor([0n, 1n]));
const inScope: grnewt.Tensor<'float32'> = grnewt.noGrad(() => grnewt.ones([2]));
const threads: number = grnewt.recommendedThreads().threads;
const root: string = grnewt.data.EMBEDDED_ROOT;
const H = grnewt.tensor([[2, 0.5], [0.5, 1]], { dtype: 'float64' });
const solved = grnewt.nesterovLrs(H, grnewt.tensor([1, 1], { dtype: 'float64' }), grnewt.tensor([1, 0.5], { dtype: 'float64' }), { dampingInt: 10 });
const gap: number | undefined = solved.gap; // the diagnostics the README lists, each in the published type
const residual: number | undefined = solved.residual;
const branch: string | null = solved.branch;
// @ts-expect-error internal members are not published
grnewt.tensor([1]).handle('x');
// @ts-expect-error internal members are not published
grnewt.Tensor.handleOf('x', 'y', 1);
// @ts-expect-error internal members are not published
grnewt.tensor([1]).dims();
// @ts-expect-error internal members are not published
grnewt.tensor([1]).assign(grnewt.tensor([2]), true);
// @ts-expect-error internal members are not published
grnewt.tensor([1]).clearGrad();
export { f32, f64, f64b, i64, i64b, i64c, z64, z32, r64, conv, same, kept, grad, idx, hits, anyDtype, wrong, wrong2, mapped, typed, mixed, list, big, json, epoch, acc, inScope, threads, root, gap, residual, branch };
`;

const dts = path.join(work, 'dts');

describe('types that follow the data', () => {
  it('compile as stated under strict against the published declarations', () => {
    expect(emitDeclarations(dts)).toEqual([]);
    const file = writeFile(path.join(work, 'checks.ts'), CHECKS.replace("'DTS'", JSON.stringify(path.join(dts, 'index'))));
    const problems = compileStrict([file]).map((p) => `line ${p.line}: ${p.message}`);
    expect(problems).toEqual([]);
  }, 120_000);
});

describe('the published declarations', () => {
  it('hold no member marked @internal in lib/', () => {
    if (!fs.existsSync(path.join(dts, 'index.d.ts'))) expect(emitDeclarations(dts)).toEqual([]);
    const lib = path.join(__dirname, '..', 'lib');
    const sources = (dir: string): string[] =>
      fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
    const leaked: string[] = [];
    let internal = 0;
    for (const file of sources(lib)) {
      // The declaration after each @internal doc comment: its name, as a .d.ts would declare it.
      for (const [, name] of fs
        .readFileSync(file, 'utf8')
        .matchAll(
          /@internal[\s\S]*?\*\/\s*(?:export\s+)?(?:static\s+)?(?:readonly\s+)?(?:function\s+|const\s+|class\s+)?([A-Za-z_$][\w$]*)/g,
        )) {
        internal++;
        const declaration = path.join(dts, path.relative(lib, file)).replace(/\.ts$/, '.d.ts');
        const declared = new RegExp(
          `^\\s*(?:export\\s+)?(?:declare\\s+)?(?:static\\s+)?(?:readonly\\s+)?(?:function\\s+|const\\s+|class\\s+)?${name}\\s*[(:<?]`,
          'm',
        );
        if (declared.test(fs.readFileSync(declaration, 'utf8'))) leaked.push(`${path.relative(lib, file)}: ${name}`);
      }
    }
    expect(internal).toBeGreaterThan(10);
    expect(leaked).toEqual([]);
  }, 120_000);
});
