// Bundles the TypeScript runtime into dist/ with esbuild, and puts next to
// it what the npm package ships prebuilt: the API shim's wasm, the C SDK and
// the type declarations. Each step skips its work when no input is newer
// than its outputs.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { generate as generateProtocols } from './gen-protocol.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

// The TypeScript side of the shared-memory contracts, from their C headers.
if (generateProtocols()) console.log('\x1b[1m==> generated the protocol modules from the C headers\x1b[0m');
const outdir = path.join(root, 'dist');

// Node: ES modules, code shared between entries split into chunks, so a
// class such as SimDevice or LibusbError is one class whichever entry (or a
// --device-module) it came from.
const nodeEntries = {
  // the runner, its worker, the CLI
  'node': 'ts/runner/node/index.ts',
  'node-worker': 'ts/runner/node/program-worker.ts',
  'node-host-worker': 'ts/runner/node/host-worker.ts',
  'cli': 'ts/runner/cli/main.ts',
  // the typed JS API, and its server's plugin for the API shim's worker
  'api': 'ts/api/node.ts',
  'api-plugin': 'ts/api/plugin.ts',
  // the simulated-device framework, for device modules (--device-module)
  'sim': 'ts/sim/index.ts',
  // one entry per transport
  'transports/sim': 'ts/sim/transport.ts',
  'transports/webusb': 'ts/transports/webusb/index.ts',
  'transports/node': 'ts/transports/node/index.ts',
  // USB/IP: the server and the WebSocket bridge (the client is the usbip transport, in the runner)
  'usbip': 'ts/runner/usbip/index.ts',
};
// Browsers: page-side modules (ES modules), and the program's worker (a
// classic script: Emscripten's output is loaded with importScripts). What a
// page loads at run time sits flat in dist/: browser-worker.js, browser-host-worker.js and the API
// shim (libusb-api.*), next to the modules that point at them.
const browserModules = {
  'browser': 'ts/runner/browser/index.ts',
  'browser-api': 'ts/api/browser.ts',
  'browser-sim': 'ts/sim/index.ts',
  'browser-transports/sim': 'ts/sim/transport.ts',
  'browser-transports/webusb': 'ts/transports/webusb/index.ts',
  'demo': 'demo/demo.ts',
};
const browserWorker = { 'browser-worker': 'ts/runner/browser/program-worker.ts', 'browser-host-worker': 'ts/runner/browser/host-worker.ts' };
// The typed API's server, loaded into the API shim's worker with importScripts: a classic script setting self.libusbWasmPlugin.
const browserPlugin = { 'browser-api-plugin': 'ts/api/plugin.ts' };

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

const sharedInputs = [path.join(root, 'ts'), path.join(root, 'demo'), new URL(import.meta.url).pathname,
  path.join(root, 'package-lock.json')];
let said = false;
const say = () => {
  if (!said) console.log('\x1b[1m==> bundling the JS runtime (dist/)\x1b[0m');
  said = true;
};
const js = (entries) => Object.keys(entries).map((k) => path.join(outdir, `${k}.js`));

// ---- JavaScript -----------------------------------------------------------
if (!fresh([...js(nodeEntries), ...js(browserModules), ...js(browserWorker), ...js(browserPlugin)], sharedInputs)) {
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
    external: ['usb', 'ws'],
    banner: { js: "import { createRequire as __lwCreateRequire } from 'node:module'; const require = __lwCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  const browser = { absWorkingDir: root, outdir, bundle: true, platform: 'browser', target: 'chrome118', sourcemap: true, logLevel: 'warning' };
  await build({ ...browser, entryPoints: browserModules, format: 'esm' });
  await build({ ...browser, entryPoints: browserWorker, format: 'iife' });
  await build({ ...browser, entryPoints: browserPlugin, format: 'iife', globalName: 'libusbWasmPlugin' });
  fs.chmodSync(path.join(outdir, 'cli.js'), 0o755);
}

// ---- prebuilt wasm: the API shim --------------------------------------------
// build/api is made by `./build.sh programs`; a JS-only build leaves it out.
for (const f of ['libusb-api.js', 'libusb-api.wasm', 'libusb-api.worker.js']) {
  const from = path.join(root, 'build/api', f);
  const to = path.join(outdir, f);
  if (!fs.existsSync(from) || fresh([to], [from])) continue;
  say();
  fs.copyFileSync(from, to);
}

// ---- libusb's examples, compiled: `npx libusb-wasm run listdevs` needs no compiler ----
// build/examples is made by `./build.sh programs`, like the shim.
for (const name of ['listdevs', 'testlibusb', 'xusb', 'hotplugtest']) {
  for (const ext of ['.js', '.wasm', '.worker.js']) {
    const from = path.join(root, 'build/examples', name + ext);
    const to = path.join(outdir, 'examples', name + ext);
    if (!fs.existsSync(from) || fresh([to], [from])) continue;
    say();
    fs.mkdirSync(path.dirname(to), { recursive: true });
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
  'api': 'api/node', 'node': 'runner/node/index', 'sim': 'sim/index', 'browser': 'runner/browser/index', 'browser-api': 'api/browser',
  'transports/sim': 'sim/transport', 'transports/webusb': 'transports/webusb/index', 'transports/node': 'transports/node/index',
  'usbip': 'runner/usbip/index',
};
const entryDts = Object.keys(declarations).map((k) => path.join(outdir, `${k}.d.ts`));
if (!fresh(entryDts, [...sharedInputs, path.join(root, 'tsconfig.build.json'), path.join(root, 'tsconfig.json')])) {
  say();
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
