/**
 * Where a program's files come from, as the page names them: a URL (its
 * .wasm and .worker.js next to it, possibly on another origin) or the
 * files themselves (picked from disk). The program's worker loads them
 * (program-worker.ts).
 * @module
 */
import { wasmFileOf } from '../common/program.js';
import type { ProgramFileSource } from './messages.js';

/**
 * A program's files as emcc wrote them, given as bytes: e.g. picked from
 * disk with `<input type="file" multiple>`.
 */
export interface ProgramFiles {
  /** The program's .js. */
  js: Blob;
  /** Its .wasm. */
  wasm: Blob;
  /** Its .worker.js, when emcc wrote one (Emscripten 3.1.6 does: the program's threads start from it). */
  workerJs?: Blob;
  /** Its file name, for argv[0]; default: the name of the `js` File, else `program.js`. */
  fileName?: string;
}

/** A program's files, resolved for its worker. */
export interface ProgramSources {
  fileName: string;
  js: ProgramFileSource;
  wasm: ProgramFileSource;
  workerJs?: ProgramFileSource;
}

/** Resolve runProgram()'s `program` option: a URL relative to the page, or the files themselves. */
export function programSources(program: string | URL | ProgramFiles): ProgramSources {
  if (typeof program === 'string' || program instanceof URL) {
    const js = new URL(program, location.href);
    const wasm = new URL(js);
    wasm.pathname = wasmFileOf(js.pathname);
    return { fileName: js.pathname.split('/').pop() || js.href, js: js.href, wasm: wasm.href };
  }
  if (!(program.js instanceof Blob) || !(program.wasm instanceof Blob)) {
    throw new Error('libusb-wasm: program must be a URL or { js, wasm, workerJs? } as Blobs (e.g. Files picked from disk)');
  }
  const fileName = program.fileName ?? (program.js instanceof File ? program.js.name : 'program.js');
  return { fileName, js: program.js, wasm: program.wasm, workerJs: program.workerJs };
}
