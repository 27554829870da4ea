// How many bytes libusb-wasm adds to a program, gzipped (gzip -9).
//
//   libusb wasm   the libusb core + our backend: a program that references
//                 every libusb API function, minus an empty program, both
//                 linked with the pkg-config flags (so the difference is
//                 libusb's code alone; the upper bound: real programs use less)
//   library JS    the same difference in the Emscripten JS (our --js-library)
//   runtime JS    the transport host and the program loader (ts/host,
//                 ts/runner/common/program.ts), bundled and minified as an
//                 application would ship them; transports are reported apart
//   flags         what the link flags themselves cost (pthreads, file
//                 system, NODEFS): the empty program with and without them.
//                 Informational: any pthread program pays most of it.
//
// Used by bench/run.mjs; run alone: node bench/size.mjs
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const OUT = path.join(ROOT, 'build/bench/size');
const SDK = path.join(ROOT, 'build/sdk');
const env = { ...process.env, PKG_CONFIG_PATH: path.join(SDK, 'lib/pkgconfig') };
if (fs.existsSync('/usr/share/nodejs')) env.NODE_PATH = ['/usr/share/nodejs', env.NODE_PATH].filter(Boolean).join(':');

const gz = (buf) => zlib.gzipSync(buf, { level: 9 }).length;
const gzFile = (f) => gz(fs.readFileSync(f));

function pkg(args) {
  return execFileSync('pkg-config', args, { env, encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
}

/** Build `src` into OUT/name.js unless it is newer than its inputs. */
function emcc(name, src, flags) {
  const out = path.join(OUT, `${name}.js`);
  const inputs = [src, path.join(SDK, 'lib/libusb-1.0.a'), path.join(SDK, 'lib/library_libusb_wasm.js')];
  const stale = !fs.existsSync(out) || inputs.some((f) => fs.existsSync(f) && fs.statSync(f).mtimeMs > fs.statSync(out).mtimeMs);
  if (stale) execFileSync('emcc', [src, '-o', out, ...flags], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  return { js: gzFile(out), wasm: gzFile(out.replace(/\.js$/, '.wasm')) };
}

/** A C file that takes the address of every libusb API function (from libusb's export list). */
function allApiSource() {
  const def = fs.readFileSync(path.join(ROOT, 'wasm/libusb-src/libusb/libusb-1.0.def'), 'utf8');
  const names = [...new Set([...def.matchAll(/^\s+(libusb_\w+)\s*$/gm)].map((m) => m[1]))];
  const header = fs.readFileSync(path.join(SDK, 'include/libusb-1.0/libusb.h'), 'utf8');
  const declared = names.filter((n) => new RegExp(`\\b${n}\\s*\\(`).test(header));
  return '#include <stdio.h>\n#include <libusb.h>\n' +
    `static void *const api[] = {\n${declared.map((n) => `\t(void *)${n},`).join('\n')}\n};\n` +
    'int main(int argc, char **argv) { (void)argv; printf("%p\\n", api[argc % (int)(sizeof(api) / sizeof(*api))]); return 0; }\n';
}

export async function measureSize({ log = console.log } = {}) {
  fs.mkdirSync(OUT, { recursive: true });
  const write = (name, text) => {
    const f = path.join(OUT, name);
    if (!fs.existsSync(f) || fs.readFileSync(f, 'utf8') !== text) fs.writeFileSync(f, text);
    return f;
  };
  const empty = write('empty.c', 'int main(void) { return 0; }\n');
  const all = write('all_api.c', allApiSource());
  const cflags = pkg(['--cflags', 'libusb-1.0']);
  const libs = pkg(['--libs', 'libusb-1.0']);

  log('  size: linking an empty program and an every-API program (-O2, the pkg-config flags)');
  const plain = emcc('plain', empty, ['-O2']);
  const bare = emcc('empty', empty, ['-O2', ...cflags, ...libs]);
  const full = emcc('all_api', all, ['-O2', '-Wno-deprecated-declarations', ...cflags, ...libs]);

  log('  size: bundling the runtime JS (minified)');
  const bundle = async (name, contents) => {
    const r = await build({
      stdin: { contents, resolveDir: ROOT, loader: 'ts' },
      bundle: true, minify: true, format: 'esm', platform: 'neutral', write: false, logLevel: 'silent',
      external: ['node:*'],
    });
    return gz(Buffer.from(r.outputFiles[0].contents));
  };
  const runtime = await bundle('runtime',
    "export { TransportHost } from './ts/host/host.ts'; export { createModule } from './ts/runner/common/program.ts';");
  const withSim = await bundle('runtime+sim',
    "export { TransportHost } from './ts/host/host.ts'; export { createModule } from './ts/runner/common/program.ts';" +
    "export { SimTransport } from './ts/sim/transport.ts'; export * from './ts/sim/models/index.ts';");

  const result = {
    libusbWasm: full.wasm - bare.wasm,
    libraryJs: full.js - bare.js,
    runtimeJs: runtime,
    simTransportJs: withSim - runtime,
    flagsWasm: bare.wasm - plain.wasm,
    flagsJs: bare.js - plain.js,
  };
  result.total = result.libusbWasm + result.libraryJs + result.runtimeJs;
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await measureSize());
}
