// The Chromium side of bench/run.mjs: real headless Chromium (the flags of
// test/browser.ts) on a cross-origin isolated page (scripts/serve.mjs)
// from build/bench/browser/ (bench/browser/page.ts). The program and its
// transport host run in Web Workers through dist/browser.js, over the
// simulated navigator.usb in the host's worker; the JS baseline runs the
// same loops in a Web Worker of its own.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const OUT = path.join(ROOT, 'build/bench/browser');

/** Bundle the page, its baseline worker, and the Chromium launcher the tests use. */
async function bundle() {
  fs.mkdirSync(OUT, { recursive: true });
  const common = { bundle: true, format: 'esm', logLevel: 'warning', target: 'es2022' };
  await build({ ...common, entryPoints: [path.join(ROOT, 'bench/browser/page.ts')], outfile: path.join(OUT, 'page.js'), platform: 'browser', external: ['/dist/*'] });
  await build({ ...common, entryPoints: [path.join(ROOT, 'bench/browser/baseline-worker.ts')], outfile: path.join(OUT, 'baseline-worker.js'), platform: 'browser', external: ['./usbip-target.js'] });
  await build({ ...common, entryPoints: [path.join(ROOT, 'test/browser.ts')], outfile: path.join(ROOT, 'build/bench/launch-chromium.mjs'), platform: 'node', packages: 'external' });
  fs.copyFileSync(path.join(ROOT, 'bench/browser/index.html'), path.join(OUT, 'index.html'));
}

/** The bench page in Chromium, with the methods of modes.mjs nodeSide() (they call window.bench). */
export async function openChromium({ log }) {
  if (!fs.existsSync('/usr/bin/chromium')) {
    throw new Error('/usr/bin/chromium is missing: run scripts/ensure-chromium.sh (make test does), or leave the chromium modes out (--modes)');
  }
  await bundle();
  const { launchChromium } = await import(pathToFileURL(path.join(ROOT, 'build/bench/launch-chromium.mjs')).href);
  const { startServer } = await import(pathToFileURL(path.join(ROOT, 'scripts/serve.mjs')).href);
  const { server } = await startServer({ port: 0 });
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await launchChromium();
  const page = await browser.newPage();
  const console = [];
  page.on('console', (m) => console.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => console.push(`[pageerror] ${e.message}`));
  await page.goto(`${base}/build/bench/browser/index.html`);
  await page.waitForFunction(() => document.title !== 'loading', undefined, { timeout: 30_000 }).catch(() => {
    throw new Error(`the bench page did not load:\n${console.join('\n')}`);
  });
  if (!(await page.evaluate(() => window.bench?.isolated))) throw new Error(`the bench page is not cross-origin isolated:\n${console.join('\n')}`);
  log(`  chromium ${browser.version()} on ${base}`);
  const run = (name, argument) => page.evaluate(([n, a]) => window.bench[n](a), [name, argument]);
  return {
    version: `Chromium ${browser.version()}, headless`,
    /** As modes.mjs nodeSide(): a program of build/bench/ by name. */
    wasm: (o) => run('wasm', { ...o, program: `/build/bench/${o.program}` }),
    baseline: (o) => run('baseline', o),
    setBusy: (n) => run('setBusy', n),
    consoleTail: () => console.slice(-20).join('\n'),
    async close() {
      await browser.close().catch(() => {});
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
