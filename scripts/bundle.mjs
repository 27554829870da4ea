// Bundles the TypeScript runtime into dist/ with esbuild, and puts next to
// it what the npm package ships prebuilt: the API shim's wasm and the C SDK.
// Each step skips its work when no input is newer than its outputs.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const outdir = path.join(root, 'dist');

// Node entry points (ESM, code shared between them split into chunks, so a
// class such as LibusbError is one class whichever entry it came from).
const nodeEntries = {
  // the runner, its worker, the CLI
  'node': 'ts/runner/node.ts',
  'node-worker': 'ts/runner/node-worker.ts',
  'cli': 'ts/runner/cli.ts',
  // the typed JS API
  'api': 'ts/api/node.ts',
  // simulated devices and the sim transport, to write and use device models
  'sim': 'ts/sim/index.ts',
  // one entry per transport; 'transports/webusb' (issue 3) and
  // 'transports/node' (issue 7) go here, and in package.json's exports
  'transports/sim': 'ts/transports/sim.ts',
};

function newest(p) {
  if (!fs.existsSync(p)) return 0;
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of fs.readdirSync(p)) t = Math.max(t, newest(path.join(p, e)));
  return t;
}

function fresh(outputs, inputs) {
  const inputTime = Math.max(...inputs.map(newest));
  return outputs.every((o) => fs.existsSync(o) && fs.statSync(o).mtimeMs >= inputTime);
}

const sharedInputs = [path.join(root, 'ts'), new URL(import.meta.url).pathname, path.join(root, 'package-lock.json')];
let said = false;
const say = () => {
  if (!said) console.log('\x1b[1m==> bundling the JS runtime (dist/)\x1b[0m');
  said = true;
};

// ---- Node -----------------------------------------------------------------
if (!fresh(Object.keys(nodeEntries).map((k) => path.join(outdir, `${k}.js`)), sharedInputs)) {
  say();
  for (const f of fs.existsSync(outdir) ? fs.readdirSync(outdir) : []) {
    if (/^chunk-.*\.js(\.map)?$/.test(f)) fs.rmSync(path.join(outdir, f));
  }
  await build({
    absWorkingDir: root,
    entryPoints: nodeEntries,
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    external: ['usb'],
    banner: { js: "import { createRequire as __lwCreateRequire } from 'node:module'; const require = __lwCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  fs.chmodSync(path.join(outdir, 'cli.js'), 0o755);
}

// ---- browsers ---------------------------------------------------------------
// dist/web/: the typed JS API for pages (ESM) and its worker, a classic
// script because Emscripten's pthreads use importScripts.
const webdir = path.join(outdir, 'web');
const webEntries = { 'api': 'ts/api/web.ts', 'sim': 'ts/sim/index.ts', 'transports/sim': 'ts/transports/sim.ts' };
const webCommon = { absWorkingDir: root, bundle: true, platform: 'browser', target: 'es2022', sourcemap: true, logLevel: 'warning' };
if (!fresh([...Object.keys(webEntries).map((k) => path.join(webdir, `${k}.js`)), path.join(webdir, 'api-worker.js')], sharedInputs)) {
  say();
  await build({ ...webCommon, entryPoints: webEntries, outdir: webdir, format: 'esm' });
  await build({ ...webCommon, entryPoints: { 'api-worker': 'ts/api/web-worker.ts' }, outdir: webdir, format: 'iife' });
}

// ---- prebuilt wasm: the API shim --------------------------------------------
// build/api is made by `./build.sh programs`; a JS-only build leaves it out.
const shimFiles = ['libusb-api.js', 'libusb-api.wasm', 'libusb-api.worker.js'];
for (const f of shimFiles) {
  const from = path.join(root, 'build/api', f);
  if (!fs.existsSync(from)) continue;
  for (const dir of [outdir, webdir]) {
    const to = path.join(dir, f);
    if (fresh([to], [from])) continue;
    say();
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(from, to);
  }
}

// ---- the C SDK, for the npm package ---------------------------------------------
const sdk = path.join(root, 'build/sdk');
if (fs.existsSync(sdk) && !fresh([path.join(outdir, 'sdk/lib/pkgconfig/libusb-1.0.pc')], [sdk])) {
  say();
  fs.rmSync(path.join(outdir, 'sdk'), { recursive: true, force: true });
  fs.cpSync(sdk, path.join(outdir, 'sdk'), { recursive: true });
  // libusb's licence travels with its static library
  fs.copyFileSync(path.join(root, 'wasm/libusb-src/COPYING'), path.join(outdir, 'sdk/COPYING.libusb'));
}

// ---- type declarations ----------------------------------------------------------
// dist/types mirrors ts/; each entry point gets a .d.ts that re-exports its module.
const declarations = {
  'api': 'api/node', 'node': 'runner/node', 'sim': 'sim/index', 'transports/sim': 'transports/sim',
  'web/api': 'api/web', 'web/sim': 'sim/index', 'web/transports/sim': 'transports/sim',
};
const entryDts = Object.keys(declarations).map((k) => path.join(outdir, `${k}.d.ts`));
if (!fresh(entryDts, [...sharedInputs, path.join(root, 'tsconfig.build.json'), path.join(root, 'tsconfig.json')])) {
  say();
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  } catch {
    console.error('bundle.mjs: the type declarations did not build (tsc errors above)');
    process.exit(1);
  }
  for (const [entry, mod] of Object.entries(declarations)) {
    const file = path.join(outdir, `${entry}.d.ts`);
    const target = path.relative(path.dirname(file), path.join(outdir, 'types', `${mod}.js`)).replaceAll(path.sep, '/');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `export * from '${target.startsWith('.') ? target : `./${target}`}';\n`);
  }
}
