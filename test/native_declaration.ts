// NativeAddon's members as lib/core/native.ts declares them, read with the TypeScript compiler (the tests
// compare them with what the loaded addon exports).
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const declarationFile = path.join(__dirname, '..', 'lib', 'core', 'native.ts');

export interface DeclaredExport {
  name: string;
  /** Declared as a method (a function), not a property. */
  method: boolean;
  /** Has a doc comment. */
  documented: boolean;
  parameters: string[];
  /** The parameters typed as a single number, boolean or string (a shape or an options object is not one). */
  scalarParameters: string[];
}

export function declaredExports(): DeclaredExport[] {
  const source = ts.createSourceFile(declarationFile, fs.readFileSync(declarationFile, 'utf8'), ts.ScriptTarget.Latest, true);
  const addon = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'NativeAddon');
  if (!addon) throw new Error('lib/core/native.ts declares no interface NativeAddon');
  return addon.members.map((m) => {
    const parameters = ts.isMethodSignature(m) ? [...m.parameters] : [];
    return {
      name: m.name!.getText(source),
      method: ts.isMethodSignature(m),
      documented: ts.getJSDocCommentsAndTags(m).length > 0,
      parameters: parameters.map((p) => p.name.getText(source)),
      scalarParameters: parameters
        .filter((p) => /^(number|boolean|string|Maybe<string>)$/.test(p.type?.getText(source) ?? ''))
        .map((p) => p.name.getText(source)),
    };
  });
}
