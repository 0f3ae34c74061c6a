// The folder layout is the architecture (ARCHITECTURE.md): each lib/ and native/ folder imports only from
// the folders below it, so the tensor core never depends on the method, nor the method on the application,
// and only native/addon/ knows of Node.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = path.join(__dirname, '..', 'lib');

/** What each folder may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  core: [],
  io: ['core'],
  nn: ['core'],
  distributed: ['core'],
  optim: ['core', 'distributed'],
  data: ['core', 'io', 'distributed'],
  models: ['core', 'nn'],
  method: ['core', 'nn', 'data', 'optim', 'distributed'], // not models: models describe themselves (nn's taylorSteps)
  app: ['core', 'io', 'nn', 'optim', 'data', 'models', 'method', 'distributed'],
};

/** Re-exports kept where earlier versions had them (a public path), not dependencies of the folder's code. */
const COMPATIBILITY = new Set(['optim/index.ts → method']);

function files(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

function folderOf(file: string): string {
  const rel = path.relative(LIB, file).split(path.sep);
  return rel.length === 1 ? '.' : rel[0];
}

describe('lib/ layering', () => {
  it('has a rule for every folder', () => {
    const folders = fs
      .readdirSync(LIB, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.sort()).toEqual(Object.keys(ALLOWED).sort());
  });

  it('imports only run downwards', () => {
    const wrong: string[] = [];
    for (const file of files(LIB)) {
      const from = folderOf(file);
      if (from === '.') continue; // lib/index.ts gathers the public API from everywhere
      const source = fs.readFileSync(file, 'utf8');
      for (const [, spec] of source.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
        const to = folderOf(`${path.resolve(path.dirname(file), spec)}.ts`);
        const rel = path.relative(LIB, file).split(path.sep).join('/');
        if (to === from || ALLOWED[from].includes(to) || COMPATIBILITY.has(`${rel} → ${to}`)) continue;
        wrong.push(`${rel} imports ${spec} (${from} → ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

const NATIVE = path.join(__dirname, '..', 'native');

/** What each native/ folder may include besides itself: the core library knows nothing of the addon. */
const NATIVE_ALLOWED: Record<string, string[]> = {
  core: [],
  optim: ['core'],
  method: ['core'],
  distributed: ['core'],
  cuda: ['core', 'method'],
  addon: ['core', 'optim', 'method', 'distributed'],
  tests: ['core', 'optim', 'method', 'cuda'],
};

describe('native/ layering', () => {
  it('has a rule for every folder', () => {
    const folders = fs
      .readdirSync(NATIVE, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.sort()).toEqual(Object.keys(NATIVE_ALLOWED).sort());
  });

  it('includes only run downwards, and only the addon includes Node headers', () => {
    const wrong: string[] = [];
    for (const folder of Object.keys(NATIVE_ALLOWED)) {
      for (const name of fs.readdirSync(path.join(NATIVE, folder))) {
        const source = fs.readFileSync(path.join(NATIVE, folder, name), 'utf8');
        for (const [, to] of source.matchAll(/#include "([a-z_]+)\//g)) {
          if (to !== folder && !NATIVE_ALLOWED[folder].includes(to)) wrong.push(`${folder}/${name} includes ${to}/`);
        }
        if (folder !== 'addon' && /#include <(napi|node_api)\.h>/.test(source)) wrong.push(`${folder}/${name} includes N-API`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
