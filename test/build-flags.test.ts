/**
 * Which flags every object file of a project needs (docs/posix.md, "Build
 * flags"): test/projects/atomics, built file by file as build systems do.
 * With the SDK's Cflags (`pkg-config --cflags libusb-1.0`, which carry
 * -pthread) on every file it links and runs; a file using atomic builtins
 * compiled without them breaks the link, naming the file.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, run } from './helpers.js';

const exec = promisify(execFile);
const PROJECT = path.join(ROOT, 'test/projects/atomics');
const env = {
  ...process.env,
  NODE_PATH: ['/usr/share/nodejs', process.env.NODE_PATH].filter(Boolean).join(':'),
  PKG_CONFIG_PATH: path.join(ROOT, 'build/sdk/lib/pkgconfig'),
};

async function pkgConfig(what: '--cflags' | '--libs'): Promise<string[]> {
  const { stdout } = await exec('pkg-config', [what, 'libusb-1.0'], { env });
  return stdout.trim().split(/\s+/);
}

describe('build flags for every object file', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'libusb-wasm-flags-'));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const compile = (file: string, flags: string[], out: string) =>
    exec('emcc', ['-O2', ...flags, '-c', path.join(PROJECT, file), '-o', path.join(scratch, out)], { env, timeout: 120000 });
  const link = async (objects: string[], out: string) =>
    exec('emcc', ['-O2', ...objects.map((o) => path.join(scratch, o)), '-o', path.join(scratch, out), ...(await pkgConfig('--libs'))], { env, timeout: 180000 });

  it('links and runs a project whose non-libusb files use atomics, every file compiled with the SDK\'s Cflags', async () => {
    const cflags = await pkgConfig('--cflags');
    expect(cflags).toContain('-pthread');
    await Promise.all([compile('main.c', cflags, 'main.o'), compile('flag.c', cflags, 'flag.o'), compile('plain.c', cflags, 'plain.o')]);
    await link(['main.o', 'flag.o', 'plain.o'], 'project.js');
    const r = await run(path.join(scratch, 'project.js'), { transport: 'sim' });
    expect(r.stdout).toBe('first 0 second 1 twice 42\n');
    expect(r.code).toBe(0);
  }, 300000);

  it('fails the link when the file using atomics was compiled without -pthread, naming it', async () => {
    const cflags = await pkgConfig('--cflags');
    await Promise.all([compile('main.c', cflags, 'main-2.o'), compile('flag.c', [], 'flag-bare.o'), compile('plain.c', [], 'plain-bare.o')]);
    const failure = await link(['main-2.o', 'flag-bare.o', 'plain-bare.o'], 'broken.js').then(() => undefined, (e) => String(e.stderr));
    // the linker's one error names flag-bare.o: a file without atomics links without the flag
    const errors = (failure ?? '').split('\n').filter((l) => /wasm-ld[^:]*: error:/.test(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/--shared-memory is disallowed by \S*\/flag-bare\.o because it was not compiled with 'atomics'/);
  }, 300000);

  it('a program built with -O3 (minified import and export names) gets the POSIX runtime too', async () => {
    const cflags = await pkgConfig('--cflags');
    await exec('emcc', ['-O3', ...cflags, path.join(ROOT, 'test/c/posix_timers.c'), '-o', path.join(scratch, 'timers-O3.js'),
      ...(await pkgConfig('--libs'))], { env, timeout: 300000 });
    const r = await run(path.join(scratch, 'timers-O3.js'), { transport: 'sim', args: ['alarm', 'sigsuspend'] });
    expect(r.stdout).toBe('PASS alarm\nPASS sigsuspend\n');
  }, 300000);

  it('libusb-wasm cc gives every file what it needs: the project builds file by file with no flags of its own', async () => {
    const cc = (args: string[]) => exec(process.execPath, [path.join(ROOT, 'dist/cli.js'), 'cc', '-O2', ...args], { env, timeout: 180000 });
    await Promise.all(['main', 'flag', 'plain'].map((f) => cc(['-c', path.join(PROJECT, `${f}.c`), '-o', path.join(scratch, `cc-${f}.o`)])));
    await cc(['main', 'flag', 'plain'].map((f) => path.join(scratch, `cc-${f}.o`)).concat(['-o', path.join(scratch, 'cc-project.js')]));
    const r = await run(path.join(scratch, 'cc-project.js'), { transport: 'sim' });
    expect(r.stdout).toBe('first 0 second 1 twice 42\n');
  }, 300000);
});
