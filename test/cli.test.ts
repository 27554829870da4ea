/**
 * What the `libusb-wasm` command says when something is wrong, and the
 * commands newcomers meet first: a bad device spec (one line, exit 2), IDs
 * in hex, examples by name, a transport host that fails (its cause, once, at
 * once), programs linked without the SDK's flags or started with plain
 * node (one line saying what to do), and `cc`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT, TESTS, start, until } from './helpers.js';

const { createDevice, parseDeviceSpec } = (await import('../dist/sim.js' as string)) as typeof import('../ts/sim/index.js');

const exec = promisify(execFile);
type Outcome = { code: number; stdout: string; stderr: string };
const settle = (p: Promise<{ stdout: string; stderr: string }>): Promise<Outcome> => p.then(
  (r) => ({ code: 0, ...r }),
  (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
);
const cli = (args: string[], env: Record<string, string> = {}) =>
  settle(exec(process.execPath, [path.join(ROOT, 'dist/cli.js'), ...args], { env: { ...process.env, ...env }, timeout: 120_000 }));

/** A usage error: one line saying what is wrong, one pointing at help, exit status 2. */
function expectUsageError(r: Outcome, message: string | RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(typeof message === 'string' ? `libusb-wasm: ${message}` : message);
  expect(lines[1]).toBe('see: libusb-wasm run --help');
}

describe('device specs', () => {
  it('refuses an unknown option, a value of the wrong type or out of range, and a missing file', async () => {
    expectUsageError(await cli(['run', '--device', 'msc:blocks=abc', 'listdevs']), 'mass-storage: blocks=abc is not a whole number');
    expectUsageError(await cli(['run', '--device', 'msc:blockSize=0', 'listdevs']), 'mass-storage: blockSize=0 is below 512');
    expectUsageError(await cli(['run', '--device', 'msc:blockSize=1000', 'listdevs']), 'mass-storage: blockSize=1000 is not a power of two');
    expectUsageError(await cli(['run', '--device', 'loopback:foo=1', 'listdevs']),
      "loopback: unknown option 'foo' (options: unconfigured, reenumerateOnReset, kernelDrivers, serialNumber)");
    expectUsageError(await cli(['run', '--device', 'hid:buttonPressed=yes', 'listdevs']), 'hid: buttonPressed=yes is not true or false');
    expectUsageError(await cli(['run', '--device', 'msc:image=/nonexistent/disk.img', 'listdevs']), 'msc: image=/nonexistent/disk.img: no such file');
    expectUsageError(await cli(['run', '--devices', 'loopback,nonsense', 'listdevs']), /unknown device model 'nonsense'; available: loopback/);
  });

  it('reads VID and PID in hex, as --grant does', async () => {
    const r = await cli(['run', '--device', 'hid:vendorId=1209,productId=0003', '--grant', '1209:0003', 'listdevs']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1209:0003 (bus 1, device 1) path: 1\n');
  });

  it('checks specs given as objects the same way', () => {
    expect(() => createDevice({ model: 'msc', options: { blocks: '4096' } })).toThrow('mass-storage: blocks=4096 is not a whole number');
    expect(() => createDevice({ model: 'hid', options: { vendorId: 0x12345 } })).toThrow('is not a 16-bit ID in hex');
    expect(() => createDevice({ model: 'loopback', options: { serial: 'x' } })).toThrow("loopback: unknown option 'serial'");
    expect(() => createDevice({ model: 'loopback', options: { kernelDrivers: { 0: 7 } } })).toThrow('loopback: kernelDrivers={"0":7} is not interface numbers');
    expect(createDevice({ model: 'hid', options: { kernelDrivers: { 0: 'usbhid' } } }).label).toBe('04d8:003f Simple HID Device Demo');
    expect(() => createDevice('msc:image=disk.img')).toThrow("image=disk.img names a file; here, give the file's bytes instead");
    expect(() => createDevice({ model: 'msc', options: { blocks: 1 << 20, blockSize: 4096 } })).toThrow('does not fit in 1 GiB');
    expect(parseDeviceSpec('msc:blocks=0x10,vendor=ACME,unconfigured=true')).toEqual({ model: 'msc', options: { blocks: 16, vendor: 'ACME', unconfigured: true } });
    const disk = createDevice({ model: 'msc', options: { blocks: 8, image: new Uint8Array([0xeb, 0x3c]) } }) as unknown as { blocks: number };
    expect(disk.blocks).toBe(8);
  });
});

describe('programs by name', () => {
  it('runs the examples that ship compiled by their names', async () => {
    const r = await cli(['run', '--devices', 'loopback', 'listdevs']);
    expect(r.stdout).toBe('1209:0001 (bus 1, device 1) path: 1\n');
    const help = await cli(['run', '--help']);
    expect(help.stdout).toContain('hotplugtest, listdevs, testlibusb, xusb');
    expectUsageError(await cli(['run', '--devices', 'loopback', 'lsusb']),
      "no program 'lsusb': give the .js file emcc wrote, or an example (hotplugtest, listdevs, testlibusb, xusb)");
  });
});

describe('a transport host that fails', () => {
  it('that cannot start: its cause once, status 1, without waiting for libusb_init to give up', async () => {
    const r = await cli(['run', '--device-module', '/nonexistent/devices.mjs', 'hotplugtest']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^libusb-wasm: the transport host could not start: Cannot find module '\/nonexistent\/devices\.mjs'[^\n]*\n$/);
  });

  it('that crashes: said at once, with its cause, once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-crash-'));
    fs.writeFileSync(path.join(dir, 'explodes.mjs'),
      "export default () => { setTimeout(() => { throw new Error('the device model exploded'); }, 300); return []; };\n");
    // hotplugtest waits for hotplug events; its host crashes under it
    const p = start(path.join(ROOT, 'dist/examples/hotplugtest.js'), { deviceModule: path.join(dir, 'explodes.mjs') });
    try {
      await until(() => p.out.stderr.includes('the transport host crashed'), 15_000, 'the crash to be reported');
      expect(p.out.stderr).toContain('libusb-wasm: the transport host crashed: Error: the device model exploded');
      expect(p.out.stderr.match(/the device model exploded/g)).toHaveLength(1);
    } finally {
      await p.kill();
    }
  });
});

describe('a program linked without the SDK flags', () => {
  it('without -sPROXY_TO_PTHREAD: says so when libusb_init fails for it', async () => {
    const r = await cli(['run', '--devices', 'loopback', path.join(TESTS, 'listdevs_unproxied.js')]);
    expect(r.code).toBe(244); // LIBUSB_ERROR_NOT_SUPPORTED, as before: only now it is explained
    expect(r.stderr).toBe('libusb-wasm: listdevs_unproxied ended with status 244 before libusb reached the transport host: it was '
      + 'linked without -sPROXY_TO_PTHREAD, so libusb_init ran on the thread that must never block; link it with `libusb-wasm cc` '
      + 'or with the flags of `pkg-config --libs libusb-1.0` (docs/c-projects.md)\n');
  });

  it('without -sEXIT_RUNTIME: warns before main() that it will not end', async () => {
    const p = start(path.join(TESTS, 'listdevs_no_exit_runtime.js'), { devices: ['loopback'] });
    try {
      await p.waitFor('1209:0001');
      expect(p.out.stderr).toContain('listdevs_no_exit_runtime was linked without -sEXIT_RUNTIME=1, so it will not end when main() returns');
    } finally {
      await p.kill();
    }
    expect(await p.exited).toBe(137);
  });

  it('started with plain node: one line saying how to run it, exit status 2', async () => {
    // in an ES-module package (this repository) and in a CommonJS directory
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-plain-'));
    for (const ext of ['.js', '.wasm', '.worker.js']) fs.copyFileSync(path.join(ROOT, 'dist/examples', `listdevs${ext}`), path.join(dir, `listdevs${ext}`));
    for (const program of [path.join(ROOT, 'dist/examples/listdevs.js'), path.join(dir, 'listdevs.js')]) {
      const r = await settle(exec(process.execPath, [program], { timeout: 60_000 }));
      expect(r.code, program).toBe(2);
      expect(r.stderr).toBe('libusb-wasm: listdevs.js is a libusb program for libusb-wasm: run it with `npx libusb-wasm run listdevs.js`, '
        + 'which gives it its devices\n');
    }
  });
});

describe('libusb-wasm cc', () => {
  it("adds the SDK's compile flags to every compile, and its link flags when linking", async () => {
    const compile = await cli(['cc', '--show', '-O2', '-c', 'x.c', '-o', 'x.o']);
    expect(compile.stdout).toMatch(/^emcc -I\S+\/include\/libusb-1\.0 -pthread -O2 -c x\.c -o x\.o\n$/);
    const link = await cli(['cc', '--show', 'x.o', '-o', 'x.js']);
    expect(link.stdout).toMatch(/^emcc -I\S+ -pthread x\.o -o x\.js -L\S+ -lusb-1\.0 .*-sPROXY_TO_PTHREAD=1 .*--js-library=\S+library_libusb_wasm\.js --pre-js=\S+libusb_wasm_pre\.js\n$/);
  });

  it('says what to install when there is no emcc', async () => {
    const r = await cli(['cc', 'x.c', '-o', 'x.js'], { EMCC: '/nonexistent/emcc' });
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('libusb-wasm cc: /nonexistent/emcc not found. Install Emscripten (Debian 12: sudo apt-get install emscripten), or set EMCC to its path\n');
  });
});
