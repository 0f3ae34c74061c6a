// The folder layout is the architecture (ARCHITECTURE.md): each lib/ folder imports only from the folders
// below it, so the tensor core never depends on the method, nor the method on the application.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = path.join(__dirname, '..', 'lib');

/** What each folder may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  core: [],
  io: ['core'],
  nn: ['core'],
  optim: ['core'],
  data: ['core', 'io'],
  models: ['core', 'nn'],
  method: ['core', 'nn', 'models', 'data', 'optim'],
  app: ['core', 'io', 'nn', 'optim', 'data', 'models', 'method'],
};

/** Re-exports kept where earlier versions had them (a public path), not dependencies of the folder's code. */
const COMPATIBILITY = new Set(['optim/index.ts → method']);

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

function folderOf(file: string): string {
  const rel = path.relative(LIB, file).split(path.sep);
  return rel.length === 1 ? '.' : rel[0];
}

describe('lib/ layering', () => {
  it('has a rule for every folder', () => {
    const folders = fs.readdirSync(LIB, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.sort()).toEqual(Object.keys(ALLOWED).sort());
  });

  it('imports only run downwards', () => {
    const wrong: string[] = [];
    for (const file of files(LIB)) {
      const from = folderOf(file);
      if (from === '.') continue; // lib/index.ts gathers the public API from everywhere
      const source = fs.readFileSync(file, 'utf8');
      for (const [, spec] of source.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
        const to = folderOf(path.resolve(path.dirname(file), spec) + '.ts');
        const rel = path.relative(LIB, file).split(path.sep).join('/');
        if (to === from || ALLOWED[from].includes(to) || COMPATIBILITY.has(`${rel} → ${to}`)) continue;
        wrong.push(`${rel} imports ${spec} (${from} → ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
