/**
 * Standard input streams into programs as it arrives (wasm/runtime/stdin.c,
 * ts/runner/common/posix/stdin-pump.ts), test/c/posix_stdin.c reading it:
 * 100 MiB through a real pipe into `libusb-wasm run`, in order; a stream
 * given to runProgram() read with backpressure (the producer is held back
 * while the program does not read); interactive prompts line by line;
 * O_NONBLOCK and poll() on stdin.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ROOT, TESTS, start, until } from './helpers.js';

const PROGRAM = path.join(TESTS, 'posix_stdin.js');
const MiB = 1 << 20;

/** The test pattern posix_stdin checks: byte i is (i ^ i >> 8 ^ i >> 16) & 0xff. */
function pattern(from: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const k = from + i;
    b[i] = (k ^ (k >>> 8) ^ (k >>> 16)) & 0xff;
  }
  return b;
}

/** `total` bytes of the pattern in 1 MiB chunks, made only when asked for; `made` counts them. */
function patternSource(total: number) {
  const state = { made: 0 };
  const source = (async function* () {
    while (state.made < total) {
      const n = Math.min(MiB, total - state.made);
      const chunk = pattern(state.made, n);
      state.made += n;
      yield chunk;
    }
  })();
  return { source, state };
}

describe('stdin', () => {
  it('100 MiB through a pipe into libusb-wasm run arrive in order', async () => {
    const total = 100 * MiB;
    // a producer process writing the pattern into the pipe, as fast as the pipe takes it
    const producer = `const total=${total};let at=0;const go=()=>{while(at<total){const n=Math.min(${MiB},total-at);const b=Buffer.allocUnsafe(n);for(let i=0;i<n;i++){const k=at+i;b[i]=(k^(k>>>8)^(k>>>16))&255}at+=n;if(!process.stdout.write(b))return process.stdout.once('drain',go)}};go();`;
    const child = spawn('bash', ['-c', `"${process.execPath}" -e "${producer}" | "${process.execPath}" dist/cli.js run --devices loopback "${PROGRAM}" count`],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(out.trim()).toBe(`read ${total} bytes in order`);
    expect(code).toBe(0);
  }, 120000);

  it('reads a stream given to runProgram() no further ahead of the program than a window', async () => {
    const total = 24 * MiB;
    const { source, state } = patternSource(total);
    const p = start(PROGRAM, { transport: 'sim', stdin: source, args: ['count', String(4 * MiB)] });
    await p.waitFor(/paused at \d+/);
    const pausedAt = Number(/paused at (\d+)/.exec(p.out.stdout)![1]);
    await new Promise((r) => setTimeout(r, 300));
    // while the program sleeps: what it read, plus the 1 MiB window, the 64 KiB ring and one chunk
    expect(state.made).toBeLessThanOrEqual(pausedAt + 2 * MiB + 64 * 1024);
    const r = await p.outcome();
    expect(r.stdout).toContain(`read ${total} bytes in order`);
    expect(r.code).toBe(0);
  }, 60000);

  it('takes a Node Readable, and bytes given up front', async () => {
    const fromReadable = await start(PROGRAM, { transport: 'sim', stdin: Readable.from([pattern(0, 1000), pattern(1000, 3000)]), args: ['count'] }).outcome();
    expect(fromReadable.stdout).toBe('read 4000 bytes in order\n');
    const fromBytes = await start(PROGRAM, { transport: 'sim', stdin: new Uint8Array(pattern(0, 200000)), args: ['count'] }).outcome();
    expect(fromBytes.stdout).toBe('read 200000 bytes in order\n');
    const empty = await start(PROGRAM, { transport: 'sim', args: ['count'] }).outcome();
    expect(empty.stdout).toBe('read 0 bytes in order\n');
  });

  it('gives the program each line as it is typed', async () => {
    const lines: string[] = [];
    let wake: (() => void) | undefined;
    const typed = (async function* () {
      for (;;) {
        while (!lines.length) await new Promise<void>((r) => (wake = r));
        const line = lines.shift()!;
        if (!line) return;
        yield line;
      }
    })();
    const type = (line: string) => {
      lines.push(line);
      wake?.();
    };
    const p = start(PROGRAM, { transport: 'sim', stdin: typed, args: ['lines'] });
    // each line only after the program answered the one before: it reads them as they come
    type('Ada\n');
    await p.waitFor('hello Ada');
    type('Grace\n');
    await p.waitFor('hello Grace');
    type('');
    const r = await p.outcome();
    expect(r.stdout).toBe('name? hello Ada\nname? hello Grace\nname? bye\n');
  });

  it('O_NONBLOCK gives EAGAIN, and poll() waits for input', async () => {
    let release!: () => void;
    const later = (async function* () {
      await new Promise<void>((r) => (release = r));
      yield 'late line\n';
    })();
    const p = start(PROGRAM, { transport: 'sim', stdin: later, args: ['nonblock'] });
    await p.waitFor('would block');
    await until(() => release !== undefined, 15000, 'the program to ask for stdin');
    release();
    const r = await p.outcome();
    expect(r.stdout).toBe('would block\ngot late line\n');
    expect(r.code).toBe(0);
  });
});
