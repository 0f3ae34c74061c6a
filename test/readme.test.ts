// The README's TypeScript snippets, as a user would meet them: compiled under `strict` against the
// declarations the package publishes (emitted here with the project's tsconfig, so stripInternal applies),
// then the runnable ones run. A snippet preceded by `<!-- readme-test: compile-only (why) -->` is only
// compiled (it trains for minutes or needs Debian's full dataset).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileStrict, emitDeclarations } from './typescript';

const root = path.join(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-readme-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

interface Snippet {
  line: number;
  code: string;
  run: boolean;
}

function snippets(markdown: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const end = lines.indexOf('```', i + 1);
    const compileOnly =
      /<!--\s*readme-test:\s*compile-only/.test(lines[i - 1] ?? '') || /<!--\s*readme-test:\s*compile-only/.test(lines[i - 2] ?? '');
    out.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n'), run: !compileOnly });
    i = end;
  }
  return out;
}

/** The snippet as a module importing grnewt from `target`: its own imports of 'grnewt' are pointed there, and
 * a snippet that imports nothing gets `import * as grnewt` (the README's other snippets show that line). */
function asModule(code: string, target: string): string {
  const body = code.replace(/from 'grnewt'/g, `from ${JSON.stringify(target)}`);
  const preamble = /import \* as grnewt from/.test(body) ? '' : `import * as grnewt from ${JSON.stringify(target)};`;
  return `${preamble}\n${body}\nexport {};\n`;
}

const readme = snippets(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));

describe('README', () => {
  const dts = path.join(work, 'dts');
  beforeAll(() => expect(emitDeclarations(dts)).toEqual([]), 120_000);

  it('has TypeScript snippets, some of them runnable', () => {
    expect(readme.length).toBeGreaterThanOrEqual(4);
    expect(readme.filter((s) => s.run).length).toBeGreaterThanOrEqual(2);
  });

  it('publishes no internal member in its declarations', () => {
    const tensorDts = fs.readFileSync(path.join(dts, 'core', 'tensor.d.ts'), 'utf8');
    expect(tensorDts).toMatch(/toArray\(\): ArrayOf<D>/);
    for (const internal of ['handle(', 'handleOf(', 'assign(', 'clearGrad(', 'dims(', 'freeByScope(', 'export declare function binary']) {
      expect(tensorDts, internal).not.toContain(internal);
    }
    expect(fs.readFileSync(path.join(dts, 'nn', 'layers.d.ts'), 'utf8')).not.toMatch(/\bsettings\b|\btaylorSteps\b/);
    expect(fs.readFileSync(path.join(dts, 'nn', 'module.d.ts'), 'utf8')).not.toMatch(/\btaylorSteps\b/); // the route's, not API
    const nativeDts = fs.readFileSync(path.join(dts, 'core', 'native.d.ts'), 'utf8');
    for (const internal of ['function native', 'NativeAddon', 'explainLoadFailure', 'Options', 'NativeHg', 'TaylorStep'])
      expect(nativeDts, internal).not.toContain(internal);
  });

  it('every snippet compiles under strict against the published declarations', () => {
    const files = readme.map((s, i) => {
      const file = path.join(work, `snippet${i}.ts`);
      fs.writeFileSync(file, asModule(s.code, path.join(dts, 'index')));
      return file;
    });
    const problems = compileStrict(files).map((p) => {
      const index = files.indexOf(p.file);
      // line 0 of a snippet file is the added import: README line = the fence's line + file line
      return `${index >= 0 ? `README.md:${readme[index].line + p.line}` : p.file}: ${p.message}`;
    });
    expect(problems).toEqual([]);
  }, 120_000);

  const runnable = readme.map((s, i) => ({ ...s, i })).filter((s) => s.run);
  it.each(runnable.map((s) => [s.line, s] as const))(
    'the snippet at README.md:%i runs',
    async (_line, s) => {
      const file = path.join(work, `run${s.i}.ts`);
      fs.writeFileSync(file, asModule(s.code, path.join(root, 'lib', 'index.ts')));
      const cwd = process.cwd();
      process.chdir(work); // snippets may write files (checkpoints, reports) relative to the working directory
      try {
        await import(file);
      } finally {
        process.chdir(cwd);
      }
    },
    60_000,
  );
});
