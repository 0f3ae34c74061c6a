// The tree is clean under its linters and formatters — Biome for the TypeScript and scripts (biome.jsonc),
// clang-format for the C++ (.clang-format) — so `npm test` fails on a violation. `npm run format` fixes
// the formatting.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');

function run(command: string, args: string[]) {
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.error)
    throw new Error(
      `${command}: ${r.error.message}${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (scripts/setup.sh installs it)' : ''}`,
    );
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('lint and format', () => {
  it('Biome: the TypeScript and scripts are lint-clean and formatted', () => {
    const r = run(process.execPath, [path.join(ROOT, 'node_modules', '@biomejs', 'biome', 'bin', 'biome'), 'ci', '--colors=off', '.']);
    expect(r.status, r.output).toBe(0);
  }, 60_000);

  it('clang-format: every C++ and CUDA source is formatted as .clang-format says', () => {
    const files = run('git', ['ls-files', 'native/*.cpp', 'native/*.h', 'native/*.cu']).output.trim().split('\n');
    expect(files.length).toBeGreaterThan(20);
    const r = run('clang-format', ['--dry-run', '--Werror', ...files]);
    expect(r.status, r.output).toBe(0);
  }, 60_000);
});
