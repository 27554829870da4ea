// Bundles the TypeScript runtime into dist/ with esbuild. Skips the work
// when no input is newer than the outputs.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const entries = {
  // Node: the runner, its worker, the CLI
  'node': 'ts/runner/node.ts',
  'node-worker': 'ts/runner/node-worker.ts',
  'cli': 'ts/runner/cli.ts',
  // the simulated-device framework, for device modules (--device-module)
  'sim': 'ts/sim/index.ts',
};
const outdir = path.join(root, 'dist');
// Browsers: the page-side API and the demo (ES modules), and the program's
// worker (a classic script: Emscripten's output is loaded with importScripts)
const browserModules = {
  'browser': 'ts/runner/browser.ts',
  'demo': 'demo/demo.ts',
};
const browserWorker = { 'browser-worker': 'ts/runner/browser-worker.ts' };

function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

const outputs = Object.keys({ ...entries, ...browserModules, ...browserWorker }).map((k) => path.join(outdir, `${k}.js`));
const inputTime = Math.max(newest(path.join(root, 'ts')), newest(path.join(root, 'demo')), fs.statSync(new URL(import.meta.url)).mtimeMs,
  fs.statSync(path.join(root, 'package-lock.json')).mtimeMs);
if (outputs.every((o) => fs.existsSync(o) && fs.statSync(o).mtimeMs >= inputTime)) process.exit(0);

console.log('\x1b[1m==> bundling the JS runtime (dist/)\x1b[0m');
await build({
  absWorkingDir: root,
  entryPoints: entries,
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  external: ['usb'],
  banner: { js: "import { createRequire as __lwCreateRequire } from 'node:module'; const require = __lwCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
const browser = { absWorkingDir: root, outdir, bundle: true, platform: 'browser', target: 'chrome118', sourcemap: true, logLevel: 'warning' };
await build({ ...browser, entryPoints: browserModules, format: 'esm' });
await build({ ...browser, entryPoints: browserWorker, format: 'iife' });
fs.chmodSync(path.join(outdir, 'cli.js'), 0o755);
