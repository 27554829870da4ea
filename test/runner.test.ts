/**
 * The runner: what it forwards to a program, the errors it gives, several
 * programs at once, stopping a program, and the CLI.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, ROOT, TESTS, run, start, until } from './helpers.js';

const io = path.join(TESTS, 'runner_io.js');
const exec = promisify(execFile);
const cli = (args: string[]) => exec(process.execPath, [path.join(ROOT, 'dist/cli.js'), ...args]).then(
  (r) => ({ code: 0, ...r }),
  (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
);

describe('runProgram', () => {
  it('forwards arguments, environment, stdin, files, stdout, stderr and the exit status', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-io-'));
    const r = await run(io, { args: ['7', 'out.txt', 'two words'], env: { GREETING: 'hello there' }, stdin: 'line one\nline two\n', cwd: dir, transport: 'sim' });
    expect(r.stdout).toBe('argc=4 [7] [out.txt] [two words]\nGREETING=hello there\nstdin: line one\nstdin: line two\n');
    expect(r.stderr).toBe('to stderr\n');
    expect(r.code).toBe(7);
    expect(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8')).toBe('written by runner_io\n');
  });

  it('passes LIBUSB_DEBUG through to libusb', async () => {
    const r = await run(path.join(EXAMPLES, 'listdevs.js'), { devices: ['loopback'], env: { LIBUSB_DEBUG: '4' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/libusb: debug \[libusb_get_device_list\]/);
  });

  it('rejects a missing program', () => {
    expect(() => start('/nonexistent/prog.js')).toThrow(/program not found: \/nonexistent\/prog\.js/);
  });

  it('rejects a program whose wasm is missing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-nowasm-'));
    fs.writeFileSync(path.join(dir, 'p.js'), 'var Module; // libusbWasmHost\n');
    expect(() => start(path.join(dir, 'p.js'))).toThrow(/WebAssembly file .*p\.wasm is missing/);
  });

  it('rejects a program not linked against libusb-wasm', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-notlinked-'));
    fs.writeFileSync(path.join(dir, 'p.js'), 'var Module = typeof Module != "undefined" ? Module : {};\n');
    fs.writeFileSync(path.join(dir, 'p.wasm'), new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    expect(() => start(path.join(dir, 'p.js'))).toThrow(/not a libusb-wasm program.*pkg-config/);
  });

  it('reports an unknown device model and the models there are', async () => {
    const r = await run(path.join(EXAMPLES, 'listdevs.js'), { devices: ['nonsense'] });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown device model 'nonsense'; available: loopback, fx2, mass-storage/);
  });

  it('runs several programs at once, each in its own worker, the caller staying free', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const results = await Promise.all([
      run(path.join(TESTS, 'transfer_semantics.js'), { devices: ['loopback'], args: ['timeout'] }),
      run(path.join(TESTS, 'transfer_semantics.js'), { devices: ['loopback'], args: ['inflight64'] }),
      run(path.join(EXAMPLES, 'xusb.js'), { devices: ['msc'], args: ['1209:0002'] }),
      run(path.join(EXAMPLES, 'listdevs.js'), { devices: ['fx2'] }),
    ]);
    clearInterval(timer);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(results[0].stdout).toBe('PASS timeout\n');
    expect(results[1].stdout).toBe('PASS inflight64\n');
    expect(results[3].stdout).toMatch(/^04b4:8613/);
    // the 150 ms timeout alone spans many 5 ms intervals of this thread
    expect(ticks).toBeGreaterThan(10);
  });

  it('stops a program that waits forever', async () => {
    const p = start(path.join(EXAMPLES, 'hotplugtest.js'), { transport: 'sim' });
    await until(() => p.sim.waitingContexts().then((n) => n > 0), 15000, 'hotplugtest to block in libusb_handle_events');
    await p.kill();
    expect(await p.exited).not.toBe(0);
  });
});

const { createHost } = (await import('../dist/node.js' as string)) as typeof import('../ts/runner/node/index.js');

describe('programs one after another on a host made once (workers booted ahead, compiled programs kept)', () => {
  it('runs each program with its own arguments, environment, stdin and directory, whichever worker it gets', async () => {
    const host = createHost({ transport: 'sim', log: () => {} });
    try {
      for (const n of [3, 4, 5]) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lw-warm-${n}-`));
        const r = await run(io, { host, args: [String(n), 'out.txt', `run ${n}`], env: { GREETING: `hello ${n}` }, stdin: `input ${n}\n`, cwd: dir });
        expect(r.stdout).toBe(`argc=4 [${n}] [out.txt] [run ${n}]\nGREETING=hello ${n}\nstdin: input ${n}\n`);
        expect(r.code).toBe(n);
        expect(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8')).toBe('written by runner_io\n');
        // a moment between programs, as between runs in an IDE: the next worker boots meanwhile
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const listed = await run(path.join(EXAMPLES, 'listdevs.js'), { host });
      expect([listed.code, listed.stdout]).toEqual([0, '']);
    } finally {
      await host.close();
    }
  });

  it('compiles a program again when its file changed since the last run', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-recompile-'));
    const put = (name: string) => {
      for (const ext of ['.js', '.wasm', '.worker.js']) {
        const from = path.join(EXAMPLES, `${name}${ext}`);
        if (fs.existsSync(from)) fs.copyFileSync(from, path.join(dir, `prog${ext}`));
      }
      // the program's JS names its own files
      fs.writeFileSync(path.join(dir, 'prog.js'), fs.readFileSync(path.join(dir, 'prog.js'), 'utf8').replaceAll(`${name}.`, 'prog.'));
      if (fs.existsSync(path.join(dir, 'prog.worker.js'))) {
        fs.writeFileSync(path.join(dir, 'prog.worker.js'), fs.readFileSync(path.join(dir, 'prog.worker.js'), 'utf8').replaceAll(`${name}.`, 'prog.'));
      }
    };
    const host = createHost({ devices: ['loopback'], log: () => {} });
    try {
      put('listdevs');
      const first = await run(path.join(dir, 'prog.js'), { host });
      expect(first.stdout).toBe('1209:0001 (bus 1, device 1) path: 1\n');
      put('testlibusb');
      const second = await run(path.join(dir, 'prog.js'), { host });
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('Dev (bus 1, device 1): 1209 - 0001');
    } finally {
      await host.close();
    }
  });

  it('lets the process end once the host is closed (a worker booted ahead holds nothing)', async () => {
    const script = `import { createHost, runProgram } from ${JSON.stringify(path.join(ROOT, 'dist/node.js'))};
const host = createHost({ devices: ['loopback'], log: () => {} });
const p = runProgram({ program: ${JSON.stringify(path.join(EXAMPLES, 'listdevs.js'))}, host, stdout: (l) => console.log(l) });
await p.exited;
await new Promise((r) => setTimeout(r, 300));
await host.close();`;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lw-ends-')), 'ends.mjs');
    fs.writeFileSync(file, script);
    const r = await exec(process.execPath, [file], { timeout: 30_000 });
    expect(r.stdout).toBe('1209:0001 (bus 1, device 1) path: 1\n');
  });
});

describe('the caller\'s own Node options', () => {
  it('node --input-type=module -e with the typed API: the workers do not inherit how the caller was read', async () => {
    const code = `import { createContext } from ${JSON.stringify(path.join(ROOT, 'dist/api.js'))};
      const usb = await createContext({ devices: ['loopback'] });
      console.log('devices', (await usb.getDeviceList()).length);
      await usb.exit();`;
    const r = await exec(process.execPath, ['--input-type=module', '-e', code], { timeout: 60_000 });
    expect(r.stdout).toBe('devices 1\n');
  });
});

describe('choosing the transport', () => {
  // The default, node, is what test/qemu/ runs (runProgram without options there).
  it('refuses simulated devices on the node transport', async () => {
    expect(() => start(path.join(EXAMPLES, 'listdevs.js'), { transport: 'node', devices: ['loopback'] }))
      .toThrow(/need transport 'sim'/);
    const r = await cli(['run', '--transport', 'node', '--devices', 'loopback', path.join(EXAMPLES, 'listdevs.js')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('need --transport sim');
    const bad = await cli(['run', '--transport', 'bluetooth', path.join(EXAMPLES, 'listdevs.js')]);
    expect(bad.stderr).toContain("unknown transport 'bluetooth' (available: node, sim, webusb, usbip)");
  });

  it('takes simulated devices as asking for the sim transport', async () => {
    const r = await cli(['run', '--devices', 'loopback', path.join(EXAMPLES, 'listdevs.js')]);
    expect(r.stdout).toBe('1209:0001 (bus 1, device 1) path: 1\n');
    const help = await cli(['run', '--help']);
    expect(help.stdout).toMatch(/--transport node\|sim\|webusb\|usbip\s+where devices come from \(default: node/);
  });
});

describe('libusb-wasm CLI', () => {
  it('runs a program and exits with its status', async () => {
    const r = await cli(['run', '--devices', 'loopback', path.join(TESTS, 'transfer_semantics.js'), '--', 'nonsense']);
    expect(r.stdout).toContain('FAIL no such test');
    expect(r.code).toBe(100);
  });

  it('lists the device models', async () => {
    const r = await cli(['models']);
    expect(r.stdout).toMatch(/^loopback {2}\(1209:0001 Loopback\)$/m);
    expect(r.stdout).toMatch(/^fx2, fx2lp {2}\(04b4:8613\)$/m);
    expect(r.stdout).toMatch(/^mass-storage, msc {2}\(1209:0002 Simulated Disk\)$/m);
  });

  it('explains a bad command line', async () => {
    const r = await cli(['run', '--bogus', 'x.js']);
    expect(r.code).toBe(2);
    // one line saying what is wrong, one saying where help is: not the whole usage
    expect(r.stderr).toBe('libusb-wasm: unknown option --bogus\nsee: libusb-wasm run --help\n');
    const eq = await cli(['run', '--transport=sim', '--device=loopback', path.join(EXAMPLES, 'listdevs.js')]);
    expect(eq.stdout).toBe('1209:0001 (bus 1, device 1) path: 1\n');
    const version = await cli(['--version']);
    expect(version.stdout).toMatch(/^libusb-wasm \d+\.\d+\.\d+\n$/);
    const missing = await cli(['run', '/nonexistent.js']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no program '/nonexistent.js'");
  });
});
