/**
 * Test helpers: run a built program (from build/) through the real runner
 * (dist/), collecting its output.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RunOptions, RunningProgram } from '../ts/runner/node/index.js';

// The built runtime (dist/), typed by its sources: tests exercise what users get.
const { runProgram } = (await import('../dist/node.js' as string)) as typeof import('../ts/runner/node/index.js');

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const EXAMPLES = path.join(ROOT, 'build/examples');
export const TESTS = path.join(ROOT, 'build/tests');

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  /** SimDevice.inspect() of every simulated device at exit */
  devices: unknown[];
  /** The in-memory capture (RunOptions.capture true or without a file) */
  capture?: Blob;
}

export interface Started extends RunningProgram {
  /** Everything printed so far. */
  readonly out: { stdout: string; stderr: string };
  /** Resolves once stdout contains `text` (rejects after `ms`). */
  waitFor(text: string | RegExp, ms?: number): Promise<void>;
  outcome(): Promise<Outcome>;
}

export function start(program: string, options: Omit<RunOptions, 'program'> = {}): Started {
  const out = { stdout: '', stderr: '' };
  const running = runProgram({
    ...options,
    program,
    stdout: (s) => (out.stdout += s + '\n'),
    stderr: (s) => (out.stderr += s + '\n'),
  });
  const waitFor = async (text: string | RegExp, ms = 15000) => {
    const end = Date.now() + ms;
    const seen = () => (typeof text === 'string' ? out.stdout.includes(text) : text.test(out.stdout));
    while (!seen()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${text}; stdout so far:\n${out.stdout}\nstderr:\n${out.stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return Object.assign(running, {
    out,
    waitFor,
    outcome: async () => ({ code: await running.exited, ...out, devices: await running.devicesAtExit, capture: await running.capture }),
  });
}

/** Run a program to completion. */
export async function run(program: string, options: Omit<RunOptions, 'program'> = {}): Promise<Outcome> {
  return start(program, options).outcome();
}

/** Poll until `cond` holds (rejects after `ms`). */
export async function until(cond: () => Promise<boolean> | boolean, ms = 15000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Pack the package as `make pack` does (scripts/pack.sh) into `dir`; returns the tarball's path. */
export async function packInto(dir: string): Promise<string> {
  await promisify(execFile)(path.join(ROOT, 'scripts/pack.sh'), [dir], { cwd: ROOT, timeout: 600_000 });
  return path.join(dir, 'libusb-wasm.tgz');
}
