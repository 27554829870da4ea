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

/**
 * How the program was linked, as our JS library records it
 * (Module.libusbWasmLinked; absent in programs linked before it did).
 */
interface LinkSettings {
  proxyToPthread: number;
  exitRuntime: number;
}

/** The fix for a program linked without the SDK's flags, said once. */
const RELINK = 'link it with `libusb-wasm cc` or with the flags of `pkg-config --libs libusb-1.0` (docs/c-projects.md)';

/** A warning before main() runs, when the program was linked so that it cannot behave. */
function linkWarning(name: string, linked: LinkSettings | undefined): string | undefined {
  if (linked && !linked.exitRuntime) {
    return `libusb-wasm: ${name} was linked without -sEXIT_RUNTIME=1, so it will not end when main() returns: ${RELINK}`;
  }
  return undefined;
}

/** Why a program ended with `code` before it ever reached the transport host, when its link explains it. */
function exitExplanation(name: string, linked: LinkSettings | undefined, code: number, attached: boolean): string | undefined {
  if (linked && !linked.proxyToPthread && !attached && code !== 0) {
    return `libusb-wasm: ${name} ended with status ${code & 0xff} before libusb reached the transport host: it was linked without `
      + `-sPROXY_TO_PTHREAD, so libusb_init ran on the thread that must never block; ${RELINK}`;
  }
  return undefined;
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
  let attached = false;
  const linked = () => Module.libusbWasmLinked as LinkSettings | undefined;
  const Module: Record<string, unknown> = {
    arguments: config.args,
    thisProgram: config.programName,
    print: (s: string) => io.stdout(s),
    printErr: (s: string) => io.stderr(s),
    libusbWasmHost: {
      attach(memory: WebAssembly.Memory, sharedPtr: number) {
        attached = true;
        return host.attach(memory, sharedPtr);
      },
    } satisfies HostAttach,
    // after the program's JS has run (our JS library records how it was linked), before main()
    preRun: [() => {
      const warning = linkWarning(config.programName, linked());
      if (warning) io.stderr(warning);
    }],
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
      const why = exitExplanation(config.programName, linked(), code, attached);
      if (why) io.stderr(why);
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
