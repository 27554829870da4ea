/**
 * Compiled programs, kept for the next run of the same file: a program's
 * worker compiles its wasm once and hands the WebAssembly.Module back;
 * the next runProgram() of that file (unchanged: same size and mtime)
 * gives it to its worker, which then instantiates at once. Modules share
 * their compiled code between workers, so a kept one costs its memory once.
 * @module
 */
import fs from 'node:fs';

/** How many programs are kept (the least recently run goes first). */
const KEPT = 8;

interface Kept {
  /** size and mtime of the file it was compiled from */
  stamp: string;
  module: WebAssembly.Module;
}

const kept = new Map<string, Kept>();

function stampOf(file: string): string | undefined {
  try {
    const st = fs.statSync(file);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}

/** The module compiled from `wasmFile` as it is now, if one is kept. */
export function compiledProgram(wasmFile: string): WebAssembly.Module | undefined {
  const k = kept.get(wasmFile);
  if (!k || k.stamp !== stampOf(wasmFile)) return undefined;
  kept.delete(wasmFile);
  kept.set(wasmFile, k); // most recently used last
  return k.module;
}

/** Keep what a worker compiled from `wasmFile`. */
export function keepCompiledProgram(wasmFile: string, module: WebAssembly.Module): void {
  const stamp = stampOf(wasmFile);
  if (!stamp) return;
  kept.delete(wasmFile);
  kept.set(wasmFile, { stamp, module });
  while (kept.size > KEPT) kept.delete(kept.keys().next().value!);
}
