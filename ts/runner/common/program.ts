/**
 * Starting an Emscripten-compiled libusb program inside the current worker,
 * with our transport host installed. Environment-agnostic: the Node and
 * browser workers supply how to fetch the wasm and where output goes.
 *
 * We instantiate the wasm ourselves (Module.instantiateWasm), which also
 * sidesteps Emscripten 3.1.6's loader calling fetch() on a file path under
 * Node 18+.
 * @module
 */

import type { PosixRuntime } from './posix/runtime.js';

/** Where a running program's output and exit go. */
export interface ProgramIO {
  stdout(line: string): void;
  stderr(line: string): void;
  /** The program exited (exit() or return from main). */
  exit(code: number): void;
  /** The program aborted (a crash in wasm); default: only reported on stderr. */
  abort?(what: string): void;
}

export interface ProgramConfig {
  /** argv[0] */
  programName: string;
  args: string[];
  env: Record<string, string>;
  /** The runner's side of the POSIX runtime: signals, stdin, terminal, sockets (posix/runtime.ts). */
  posix: PosixRuntime;
  /** Node: make the host's file system visible to the program (NODEFS). */
  mountHostFs?: boolean;
  /** Initial working directory inside the program (created in MEMFS when missing). */
  cwd?: string;
  /** Files put into the program's file system before main() (browsers: firmware images and the like). */
  files?: Record<string, Uint8Array>;
}

/** Marker our JS library leaves in every program linked against libusb-wasm. */
export const LINK_MARKER = 'libusbWasmHost';

/**
 * The .wasm file emcc wrote next to a program's JS: `prog.js` -> `prog.wasm`,
 * and for an output name without extension (autotools' programs) `prog` ->
 * `prog.wasm`.
 */
export function wasmFileOf(program: string): string {
  return /\.m?js$/.test(program) ? program.replace(/\.m?js$/, '.wasm') : `${program}.wasm`;
}

/** Throw a clear error if the program's JS was not linked against libusb-wasm. */
export function checkLinked(programJs: string, name: string): void {
  if (!programJs.includes(LINK_MARKER)) {
    throw new Error(`${name} is not a libusb-wasm program: it was not linked against our libusb ` +
      '(or never calls libusb_init). Build it with the flags from `pkg-config --cflags --libs libusb-1.0`, ' +
      'PKG_CONFIG_PATH pointing at libusb-wasm\'s libusb-1.0.pc');
  }
}

/** What the program's libusb attaches to (Module.libusbWasmHost): see hostConnection() in host-service.ts. */
export interface HostAttach {
  attach(memory: WebAssembly.Memory, sharedPtr: number): number;
}

/**
 * The Emscripten Module object for one program. `compile` produces the
 * WebAssembly.Module (from a file in Node, a fetch in browsers).
 */
export function createModule(config: ProgramConfig, host: HostAttach, io: ProgramIO,
  compile: () => Promise<WebAssembly.Module>): Record<string, unknown> {
  const Module: Record<string, unknown> = {
    arguments: config.args,
    thisProgram: config.programName,
    print: (s: string) => io.stdout(s),
    printErr: (s: string) => io.stderr(s),
    libusbWasmHost: host,
    libusbWasmEnv: config.env,
    libusbWasmMountHostFs: config.mountHostFs ?? false,
    libusbWasmCwd: config.cwd,
    libusbWasmFiles: config.files,
    libusbWasmPosix: config.posix,
    // a device of its own for fd 0 (Emscripten's default shares the
    // terminal's with fd 1); the POSIX runtime answers its reads
    stdin: () => null,
    instantiateWasm(imports: WebAssembly.Imports, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) {
      compile()
        .then(async (module) => receive(await WebAssembly.instantiate(module, imports), module))
        .catch((e) => {
          io.stderr(`libusb-wasm: could not instantiate the program's wasm: ${e?.message ?? e}`);
          io.exit(1);
        });
      return {};
    },
    quit: (code: number, toThrow: unknown) => {
      io.exit(code);
      throw toThrow;
    },
    onAbort: (what: unknown) => {
      io.stderr(`libusb-wasm: the program aborted: ${String(what)}`);
      io.abort?.(String(what));
    },
  };
  return Module;
}
