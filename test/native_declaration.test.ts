// The addon's exports and their one declaration, NativeAddon in lib/core/native.ts, list the same names: an
// export added in C++ without being declared (and documented), or a declaration left behind by a removed
// export, fails here. The declaration is read with the TypeScript compiler, as written.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/core/native';
import { declaredExports } from './native_declaration';

describe('NativeAddon, the declaration of the addon', () => {
  const declared = declaredExports();

  it('lists exactly the names the addon exports', () => {
    const names = declared.map((m) => m.name);
    const exported = Object.keys(native());
    expect(
      exported.filter((name) => !names.includes(name)),
      'exported but not declared',
    ).toEqual([]);
    expect(
      names.filter((name) => !exported.includes(name)),
      'declared but not exported',
    ).toEqual([]);
    expect(new Set(names).size, 'a name declared twice').toBe(names.length);
  });

  it('declares every export as a function, and the addon exports only functions', () => {
    for (const [name, value] of Object.entries(native())) expect(typeof value, name).toBe('function');
    expect(declared.filter((m) => !m.method).map((m) => m.name)).toEqual([]);
  });

  it('documents every export (a /** */ comment on its declaration)', () => {
    expect(declared.filter((m) => !m.documented).map((m) => m.name)).toEqual([]);
  });

  it('passes at most three scalar settings positionally: more travel as one options object read by key', () => {
    const tooMany = declared.filter((m) => m.scalarParameters.length > 3).map((m) => `${m.name}(${m.scalarParameters.join(', ')})`);
    expect(tooMany).toEqual([]);
  });
});
