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
  // transports: 'transports/webusb' (issue 3) and 'transports/node' (issue 7) go here
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

// ---- prebuilt wasm: the API shim --------------------------------------------
// build/api is made by `./build.sh programs`; a JS-only build leaves it out.
const shimFiles = ['libusb-api.js', 'libusb-api.wasm', 'libusb-api.worker.js'];
for (const f of shimFiles) {
  const from = path.join(root, 'build/api', f);
  if (!fs.existsSync(from)) continue;
  for (const dir of [outdir]) {
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
}
