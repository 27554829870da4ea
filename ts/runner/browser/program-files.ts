/**
 * Where a program's files come from, as the page names them: the URL of
 * its .js (the .wasm and .worker.js next to it, possibly on another
 * origin), or each file on its own, as a URL (a bundler may rename them) or
 * as bytes (picked from disk). The program's worker loads them
 * (program-worker.ts).
 * @module
 */
import { wasmFileOf } from '../common/program.js';
import type { ProgramFileSource } from './messages.js';

/**
 * A program's files as emcc wrote them, each given on its own: as bytes
 * (e.g. Files picked from disk with `<input type="file" multiple>`) or as
 * a URL relative to the page (e.g. `new URL('./prog.wasm', import.meta.url)`,
 * which bundlers such as Vite copy and rename).
 */
export interface ProgramFiles {
  /** The program's .js. */
  js: Blob | string | URL;
  /** Its .wasm. */
  wasm: Blob | string | URL;
  /** Its .worker.js, when emcc wrote one (Emscripten 3.1.6 does: the program's threads start from it). */
  workerJs?: Blob | string | URL;
  /** Its file name, for argv[0]; default: the name of the `js` File or URL. */
  fileName?: string;
}

/** A program's files, resolved for its worker. */
export interface ProgramSources {
  fileName: string;
  js: ProgramFileSource;
  wasm: ProgramFileSource;
  workerJs?: ProgramFileSource;
}

const fileNameOf = (url: URL) => url.pathname.split('/').pop() || url.href;

/** Resolve runProgram()'s `program` option: a URL relative to the page, or the files themselves. */
export function programSources(program: string | URL | ProgramFiles): ProgramSources {
  if (typeof program === 'string' || program instanceof URL) {
    const js = new URL(program, location.href);
    const wasm = new URL(js);
    wasm.pathname = wasmFileOf(js.pathname);
    return { fileName: fileNameOf(js), js: js.href, wasm: wasm.href };
  }
  if (!program?.js || !program.wasm) {
    throw new Error('libusb-wasm: program must be the URL of its .js, or { js, wasm, workerJs? } as Blobs or URLs');
  }
  const js = fileSource(program.js);
  const fileName = program.fileName
    ?? (typeof js === 'string' ? fileNameOf(new URL(js)) : js instanceof File ? js.name : 'program.js');
  return {
    fileName, js, wasm: fileSource(program.wasm), workerJs: program.workerJs === undefined ? undefined : fileSource(program.workerJs),
  };
}

/** A file given as bytes stays so; a URL becomes absolute, against the page. */
function fileSource(file: Blob | string | URL): ProgramFileSource {
  return file instanceof Blob ? file : new URL(file, location.href).href;
}
