// `npm pack` makes a tarball that installs and runs with no build step, on a machine with libtorch but no
// compiler: the prebuilt addon inside it is what makes `npm install grnewt` work under npm 11.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-pack-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** A PATH holding node and npm alone: no cc, c++, cmake, make or python for an install step to find. */
function bareBin(): string {
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const npm = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  fs.symlinkSync(npm, path.join(bin, 'npm'));
  return bin;
}

describe('the npm package', () => {
  it('packs a prebuilt linux-x64 addon and installs and runs from the tarball without build tools', () => {
    const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    expect(fs.existsSync(prebuilds), 'no prebuilt addon: run `npm run build:native` first').toBe(true);

    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }));
    const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files.some((f) => /^prebuilds\/linux-x64\/.+\.node$/.test(f))).toBe(true);
    expect(files).toContain('bin/grnewt.js');
    expect(files).toContain('assets/fashion-mnist-subset/LICENSE');
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('build/'))).toBe(false);

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const env = { ...process.env, PATH: bareBin() };
    delete env.npm_config_prefix; // the outer `npm test` sets npm_* variables that would redirect the inner npm
    for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key];
    execFileSync('npm', ['install', '--no-audit', '--no-fund', path.join(work, packed[0].filename)], { cwd: app, env, stdio: 'pipe' });
    expect(fs.existsSync(path.join(app, 'node_modules', 'grnewt', 'build'))).toBe(false); // nothing was compiled

    const out = execFileSync(
      'node',
      [
        '-e',
        `const g = require('grnewt'); const x = g.tensor([[1, 2], [3, 4]], { requiresGrad: true });
              x.matmul(x).sum().backward(); console.log(JSON.stringify(Array.from(x.grad.toArray())));`,
      ],
      { cwd: app, env, encoding: 'utf8' },
    );
    // d/dX Σ(X·X) = 1·Xᵀ + Xᵀ·1 (1 the all-ones matrix) = [[7, 11], [9, 13]] for X = [[1, 2], [3, 4]]
    expect(JSON.parse(out)).toEqual([7, 11, 9, 13]);

    // `npx grnewt train` works right after the install, on the embedded subset.
    const train = execFileSync(
      path.join(app, 'node_modules', '.bin', 'grnewt'),
      [
        'train',
        '--data',
        'embedded',
        '--limit',
        '200',
        '--epochs',
        '1',
        '--hg-batch-size',
        '100',
        '--threads',
        '1',
        '--out',
        path.join(work, 'out'),
        '--json',
      ],
      { cwd: app, env, encoding: 'utf8' },
    );
    expect(train).toMatch(/"type":"done"/);
    expect(fs.existsSync(path.join(work, 'out', 'report.html'))).toBe(true);
  }, 180_000);
});
