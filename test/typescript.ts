// Compiling TypeScript as a user of the package would: lib's declarations emitted with the project's
// tsconfig (so stripInternal applies), and code compiled under `strict` against them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const root = path.join(__dirname, '..');

/** Emits lib's declarations as `tsc -p .` would into `outDir`; returns the compiler's complaints. */
export function emitDeclarations(outDir: string): string[] {
  const configFile = ts.readConfigFile(path.join(root, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root);
  const program = ts.createProgram(parsed.fileNames, {
    ...parsed.options,
    outDir,
    declaration: true,
    emitDeclarationOnly: true,
    sourceMap: false,
    declarationMap: false,
  });
  const result = program.emit();
  return ts
    .getPreEmitDiagnostics(program)
    .concat(result.diagnostics)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

export interface Problem {
  file: string;
  /** 0-based line in `file`. */
  line: number;
  message: string;
}

/** Type-checks `files` (ES modules, top-level await allowed) under strict; returns every diagnostic. */
export function compileStrict(files: string[]): Problem[] {
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
    types: ['node'],
    typeRoots: [path.join(root, 'node_modules', '@types')],
    skipLibCheck: false, // the published .d.ts files must be sound themselves (a dangling stripped type would be an error)
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file?.fileName ?? '',
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

export function writeFile(file: string, text: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}
