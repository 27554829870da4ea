/**
 * `libusb-wasm cc`: compile and link a libusb program against this
 * package's SDK, in the spirit of mpicc: emcc with the flags of the SDK's
 * libusb-1.0.pc (Cflags on every compile, Libs too when linking) and the
 * environment Debian's emcc needs (NODE_PATH=/usr/share/nodejs, where its
 * `acorn` lives). Nothing else has to be set, and pkg-config need not be
 * installed.
 * @module
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { pkgConfigArgs, readPkgConfig } from './pkg-config.js';

export const CC_USAGE = `usage: libusb-wasm cc [--show] <emcc arguments>

Runs emcc with what a libusb-wasm program needs: the SDK's compile flags
(-I..., -pthread) on every compile, and its link flags (the library, threads,
main() on a pthread, the file system, our JS library) when linking.

  libusb-wasm cc listdevs.c -o listdevs.js     compile and link
  libusb-wasm cc -c util.c -o util.o           compile only (-c, -S, -E)
  libusb-wasm cc --show ...                    print the emcc command, run nothing

emcc is looked up on PATH (EMCC=/path/to/emcc to choose another). Build
systems can use the SDK's pkg-config file instead; see docs/c-projects.md.`;

/** The SDK's pkg-config file, shipped next to the CLI (dist/sdk). */
const PC_FILE = fileURLToPath(new URL('./sdk/lib/pkgconfig/libusb-1.0.pc', import.meta.url));
/** Where Debian's nodejs packages (and so emcc's acorn) live. */
const DEBIAN_NODE_MODULES = '/usr/share/nodejs';

/** Arguments that make emcc stop before linking. */
const COMPILE_ONLY = new Set(['-c', '-S', '-E', '-M', '-MM']);

/** The emcc command line for `args`: the SDK's Cflags first, its Libs last when linking. */
export function emccCommand(args: string[], pcFile = PC_FILE): string[] {
  if (!fs.existsSync(pcFile)) throw new Error(`the SDK is missing (${pcFile}): reinstall libusb-wasm, or run ./build.sh in its repository`);
  const fields = readPkgConfig(pcFile);
  const linking = !args.some((a) => COMPILE_ONLY.has(a));
  return [process.env.EMCC || 'emcc', ...pkgConfigArgs(fields, 'Cflags'), ...args, ...(linking ? pkgConfigArgs(fields, 'Libs') : [])];
}

/** emcc's environment: Debian's emcc finds acorn only through NODE_PATH. */
function emccEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (fs.existsSync(DEBIAN_NODE_MODULES) && !(env.NODE_PATH ?? '').split(':').includes(DEBIAN_NODE_MODULES)) {
    env.NODE_PATH = [DEBIAN_NODE_MODULES, env.NODE_PATH].filter(Boolean).join(':');
  }
  return env;
}

/** A command line as a shell would take it back. */
function quote(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Run `libusb-wasm cc`; resolves with emcc's exit status. */
export async function runCc(args: string[]): Promise<number> {
  const show = args[0] === '--show';
  let command: string[];
  try {
    command = emccCommand(show ? args.slice(1) : args);
  } catch (e) {
    process.stderr.write(`libusb-wasm cc: ${(e as Error).message}\n`);
    return 1;
  }
  if (show) {
    process.stdout.write(quote(command) + '\n');
    return 0;
  }
  const [emcc, ...rest] = command;
  return new Promise((resolve) => {
    const child = spawn(emcc, rest, { stdio: 'inherit', env: emccEnvironment() });
    child.on('error', (e: NodeJS.ErrnoException) => {
      process.stderr.write(e.code === 'ENOENT'
        ? `libusb-wasm cc: ${emcc} not found. Install Emscripten (Debian 12: sudo apt-get install emscripten), or set EMCC to its path\n`
        : `libusb-wasm cc: could not run ${emcc}: ${e.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 1)));
  });
}
