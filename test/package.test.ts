/**
 * The npm package as a user gets it: packed as `make pack` packs it, the
 * tarball installed into a scratch project (without the optional `usb`
 * package, as a browser-only install has it), then used from plain Node
 * ESM, from TypeScript (Node's and a bundler project's settings), and
 * through an esbuild browser bundle in Chromium. The docs' runnable blocks,
 * the quick starts among them, run in test/doc-blocks.test.ts.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, recordConsole, serve } from './browser.js';
import { ROOT, packInto } from './helpers.js';

const exec = promisify(execFile);
let scratch = '';
let tarball = '';
const pkgDir = () => path.join(scratch, 'node_modules/libusb-wasm');

async function node(file: string, env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return exec(process.execPath, [file], { cwd: scratch, env: { ...process.env, ...env }, timeout: 60_000 });
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-package-'));
  // packs what `make build` made, without npm's prepack (./build.sh all), so that dist/ never
  // changes under the tests running beside this one
  tarball = await packInto(scratch);
  fs.writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  await exec('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: scratch, timeout: 300_000 });
}, 900_000);

afterAll(() => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the ES modules, their types, the prebuilt wasm and the C SDK', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of [
      'dist/api.js', 'dist/api.d.ts', 'dist/browser-api.js', 'dist/browser-api.d.ts', 'dist/node.js', 'dist/browser.js',
      'dist/browser-worker.js', 'dist/browser-host-worker.js', 'dist/node-worker.js', 'dist/node-host-worker.js', 'dist/cli.js', 'dist/sim.js', 'dist/browser-sim.js',
      'dist/api-plugin.js', 'dist/browser-api-plugin.js',
      'dist/transports/sim.js', 'dist/transports/webusb.js', 'dist/transports/node.js',
      'dist/libusb-api.js', 'dist/libusb-api.wasm', 'dist/libusb-api.worker.js',
      'dist/sdk/include/libusb-1.0/libusb.h', 'dist/sdk/lib/libusb-1.0.a', 'dist/sdk/lib/library_libusb_wasm.js',
      'dist/sdk/lib/libusb_wasm_pre.js', 'dist/sdk/lib/pkgconfig/libusb-1.0.pc', 'dist/sdk/COPYING.libusb',
      ...['listdevs', 'testlibusb', 'xusb', 'hotplugtest'].flatMap((e) => ['.js', '.wasm', '.worker.js'].map((x) => `dist/examples/${e}${x}`)),
      'README.md', 'LICENSE', 'package.json',
    ]) expect(listing).toContain(`package/${f}`);
    // nothing users do not need: no source maps, no demo page
    expect(listing.filter((f) => f.endsWith('.map') || f.includes('demo'))).toEqual([]);
    const license = fs.readFileSync(path.join(pkgDir(), 'LICENSE'), 'utf8');
    expect(license).toContain('version 2.1 of the License, or (at\nyour option) any later version');
    expect(license).toContain('Copyright © 2001 Johannes Erdfelt');
    expect(license).toContain('GNU LESSER GENERAL PUBLIC LICENSE');
    // every entry of the exports map exists in the package
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir(), 'package.json'), 'utf8'));
    const targets: string[] = [];
    const walk = (v: unknown) => {
      if (typeof v === 'string') targets.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(pkg.exports);
    for (const t of targets.filter((t) => !t.includes('*'))) expect(fs.existsSync(path.join(pkgDir(), t)), t).toBe(true);
  });

  it('works from plain Node ESM: the API, the runner and the simulated devices', async () => {
    fs.writeFileSync(path.join(scratch, 'app.mjs'), `
      import { createContext, LibusbError, TransferError } from 'libusb-wasm';
      import { runProgram } from 'libusb-wasm/node';
      import { SimDevice, HidDevice, LoopbackDevice } from 'libusb-wasm/sim';
      import { SimTransport } from 'libusb-wasm/transports/sim';
      const out = {};
      const usb = await createContext({ devices: ['loopback', 'hid'] });
      const list = await usb.getDeviceList();
      out.devices = list.map((d) => [d.vendorId, d.productId, d.product]);
      const h = await list.find((d) => d.productId === 1).open();
      await h.claimInterface(0);
      await h.bulkTransfer(0x01, new Uint8Array([1, 2, 3]));
      out.read = Array.from((await h.bulkTransfer(0x81, 64, { timeout: 1000 })).data);
      try { await h.bulkTransfer(0x81, 64, { timeout: 20 }); } catch (e) {
        out.timeout = [e instanceof TransferError, e instanceof LibusbError, e.errorName];
      }
      await h.close();
      await usb.exit();
      out.classes = [typeof SimDevice, new LoopbackDevice() instanceof SimDevice, typeof HidDevice, typeof SimTransport];
      const p = runProgram({ program: new URL('./node_modules/libusb-wasm/dist/libusb-api.js', import.meta.url).pathname,
        devices: [], stderr: () => {} });
      out.shimAlone = await p.exited;
      console.log(JSON.stringify(out));
    `);
    const { stdout } = await node('app.mjs');
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(out.devices.sort()).toEqual([[0x04d8, 0x003f, 'Simple HID Device Demo'], [0x1209, 1, 'Loopback']].sort());
    expect(out.read).toEqual([1, 2, 3]);
    expect(out.timeout).toEqual([true, true, 'LIBUSB_ERROR_TIMEOUT']);
    expect(out.classes).toEqual(['function', true, 'function', 'function']);
    // the shim started without an API server says so and ends
    expect(out.shimAlone).toBe(2);
  });

  it("does not pull the usb package's native binding, and says what to install when real devices are asked for", async () => {
    expect(fs.existsSync(path.join(scratch, 'node_modules/usb'))).toBe(false);
    const r = await exec(process.execPath, [path.join(pkgDir(), 'dist/cli.js'), 'run', 'listdevs'], { cwd: scratch, timeout: 60_000 })
      .then(() => undefined, (e) => e as { code: number; stderr: string });
    expect(r?.code).toBe(1);
    expect(r?.stderr).toBe("libusb-wasm: the transport host could not start: real devices need the npm package 'usb' (3.x), "
      + 'which is not installed: npm install usb (or use simulated devices)\n');
  });

  it('has types: a TypeScript consumer checks, and a wrong use does not', async () => {
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const common = ['--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2022,dom', '--skipLibCheck', '--types', 'node',
      '--typeRoots', path.join(ROOT, 'node_modules/@types')];
    fs.writeFileSync(path.join(scratch, 'good.ts'), `
      import { createContext, LibusbError, TransferError, type Device, type TransferResult, type ConfigDescriptor } from 'libusb-wasm';
      import { runProgram, type RunOptions } from 'libusb-wasm/node';
      import { SimDevice, SimpleHidDemo } from 'libusb-wasm/sim';
      import { SimTransport } from 'libusb-wasm/transports/sim';
      export async function main(): Promise<number> {
        const usb = await createContext({ devices: ['hid'], logLevel: 'debug', onLog: (level, message) => void [level, message] });
        usb.addEventListener('connect', (e) => { const d: Device = e.device; void d; });
        const [d] = await usb.getDeviceList();
        const c: ConfigDescriptor = d.configurations[0];
        const h = await d.open();
        const r: TransferResult = await h.interruptTransfer(0x81, 64, { timeout: 10, signal: AbortSignal.timeout(5) });
        const e = new LibusbError(-9);
        const t: TransferError | undefined = undefined;
        const o: RunOptions = { program: 'x.js', transport: 'sim' };
        void [c, e, t, o, runProgram, SimDevice, new SimpleHidDemo(), SimTransport];
        return r.actualLength + (e.code as number);
      }
    `);
    await exec(process.execPath, [tsc, ...common, '--module', 'nodenext', '--moduleResolution', 'nodenext', 'good.ts'], { cwd: scratch });
    fs.writeFileSync(path.join(scratch, 'bad.ts'), `
      import { createContext } from 'libusb-wasm';
      const usb = await createContext();
      const wrong: string = usb.hasHotplug;
      await usb.getDeviceList(42);
    `);
    const failed = await exec(process.execPath, [tsc, ...common, '--module', 'nodenext', '--moduleResolution', 'nodenext', 'bad.ts'], { cwd: scratch })
      .then(() => undefined, (e) => e.stdout as string);
    expect(failed).toMatch(/bad\.ts\(4,13\): error TS2322/);
    expect(failed).toMatch(/bad\.ts\(5,31\): error TS2554/);
  });

  it("gives a browser project with a bundler's default settings the browser's types, which check without @types/node", async () => {
    // moduleResolution bundler, no customConditions, lib dom + es2022, no @types/node, skipLibCheck off
    const dir = path.join(scratch, 'browser-ts');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['dom', 'es2022'], strict: true,
        skipLibCheck: false, noEmit: true, types: [],
      },
      files: ['page.ts'],
    }));
    const page = `
      import { createContext, TransferError, type Device } from 'libusb-wasm';
      import { runProgram, requestDevice, createHost } from 'libusb-wasm/browser';
      import { SimDevice } from 'libusb-wasm/sim';
      import { SimTransport } from 'libusb-wasm/transports/sim';
      import { WebUsbTransport } from 'libusb-wasm/transports/webusb';
      await using usb = await createContext({ devices: ['loopback'], assetsUrl: '/libusb/' }); // assetsUrl: browsers only
      const [d]: Device[] = await usb.getDeviceList();
      try { await (await d.open()).bulkTransfer(0x81, 64, { timeout: 10 }); } catch (e) { if (e instanceof TransferError) console.log(e.status); }
      const p = runProgram({ program: 'prog.js', transport: 'sim', devices: ['loopback'], files: { '/fw.bin': new Uint8Array(4) } });
      console.log(await p.exited, requestDevice, createHost, SimDevice, SimTransport, WebUsbTransport);
    `;
    fs.writeFileSync(path.join(dir, 'page.ts'), page);
    const tsc = [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir];
    await exec(process.execPath, tsc, { cwd: scratch }).catch((e) => {
      throw new Error(`the browser project did not type-check:\n${e.stdout}`);
    });
    // and the same project does catch a wrong use
    fs.writeFileSync(path.join(dir, 'page.ts'), `${page}\nconst wrong: string = usb.hasHotplug;\n`);
    const failed = await exec(process.execPath, tsc, { cwd: scratch }).then(() => '', (e) => e.stdout as string);
    expect(failed).toMatch(/page\.ts\(\d+,\d+\): error TS2322: Type 'boolean' is not assignable to type 'string'/);
  });

  it('works through an esbuild browser bundle in Chromium', async () => {
    const site = path.join(scratch, 'site');
    fs.mkdirSync(site, { recursive: true });
    fs.writeFileSync(path.join(scratch, 'web-app.js'), `
      import { createContext, TransferError } from 'libusb-wasm';
      const log = (s) => { document.getElementById('out').textContent += s + '\\n'; };
      try {
        const usb = await createContext({ devices: ['loopback'] });
        const [d] = await usb.getDeviceList();
        log('device ' + d.vendorId.toString(16) + ':' + d.productId.toString(16) + ' ' + d.product);
        const h = await d.open();
        await h.claimInterface(0);
        await h.bulkTransfer(0x01, new TextEncoder().encode('from the page'));
        log('read ' + new TextDecoder().decode((await h.bulkTransfer(0x81, 64, { timeout: 1000 })).data));
        try { await h.bulkTransfer(0x81, 64, { timeout: 20 }); } catch (e) { log('error ' + (e instanceof TransferError) + ' ' + e.errorName); }
        const arrived = new Promise((r) => usb.addEventListener('connect', (e) => r(e.device), { once: true }));
        await usb.sim.plug('hid');
        log('connect ' + (await arrived).product);
        await h.close();
        await usb.exit();
        log('DONE');
      } catch (e) { log('FAILED ' + (e && e.stack || e)); }
    `);
    await build({
      absWorkingDir: scratch, entryPoints: ['web-app.js'], bundle: true, format: 'esm', platform: 'browser',
      outfile: path.join(site, 'app.js'), logLevel: 'warning',
    });
    // the bundle took the package's browser module (the browser condition)
    expect(fs.readFileSync(path.join(site, 'app.js'), 'utf8')).toContain('browser-worker.js');
    for (const f of ['browser-worker.js', 'browser-host-worker.js', 'browser-api-plugin.js', 'libusb-api.js', 'libusb-api.wasm', 'libusb-api.worker.js']) {
      fs.copyFileSync(path.join(pkgDir(), 'dist', f), path.join(site, f));
    }
    fs.writeFileSync(path.join(site, 'index.html'), '<!doctype html><meta charset="utf-8"><pre id="out"></pre><script type="module" src="app.js"></script>');
    const server = await serve(site);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const console_ = recordConsole(page);
      await page.goto(`${server.url}index.html`);
      await page.waitForFunction(() => /DONE|FAILED/.test(document.getElementById('out')!.textContent!), null, { timeout: 30_000 })
        .catch(() => undefined);
      const text = await page.textContent('#out');
      expect(text, console_.join('\n')).toContain('DONE');
      expect(text).toContain('device 1209:1 Loopback');
      expect(text).toContain('read from the page');
      expect(text).toContain('error true LIBUSB_ERROR_TIMEOUT');
      expect(text).toContain('connect Simple HID Device Demo');
    } finally {
      await browser.close();
      await server.close();
    }
  }, 120_000);
});
