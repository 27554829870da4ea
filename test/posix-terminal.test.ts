/**
 * isatty() on fds 0, 1 and 2 tells the truth about where the runner's own
 * streams go, and TIOCGWINSZ gives the terminal's size when there is one
 * (test/c/posix_tty.c): through pipes, in a pseudo-terminal (`script` from
 * util-linux), and as runProgram()'s `terminal` says. A program reading a
 * terminal gets it line by line and shows its prompts at once.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, TESTS, start, until } from './helpers.js';

const exec = promisify(execFile);
const TTY = path.join(TESTS, 'posix_tty.js');
const CLI = `"${process.execPath}" "${path.join(ROOT, 'dist/cli.js')}" run --devices loopback`;

/** Run a shell command in a new pseudo-terminal of `columns`x`rows`; its output (the terminal's). */
async function inTerminal(command: string, columns = 123, rows = 45): Promise<string> {
  const { stdout } = await exec('script', ['-qfec', `stty cols ${columns} rows ${rows}; ${command}`, '/dev/null'], { cwd: ROOT, timeout: 60000 });
  return stdout.replace(/\r\n/g, '\n');
}

describe('terminals', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'libusb-wasm-tty-'));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('through pipes: no terminal, no size', async () => {
    const { stdout, stderr } = await exec('bash', ['-c', `${CLI} "${TTY}" < /dev/null 2>&1 | cat`], { cwd: ROOT });
    expect(stdout + stderr).toBe('isatty 0=0 1=0 2=0\nsize Not a tty\nstdin settings Not a tty\n');
  });

  it('in a terminal: all three are, with its size and settings', async () => {
    expect(await inTerminal(`${CLI} "${TTY}"`)).toBe('isatty 0=1 1=1 2=1\nsize 123x45\nstdin settings canonical\n');
  });

  it('in a terminal with stdout piped: stdout is not one', async () => {
    const out = await inTerminal(`${CLI} "${TTY}" | cat`);
    expect(out).toBe('isatty 0=1 1=0 2=1\nsize Not a tty\nstdin settings canonical\n');
  });

  it('a resized terminal: the new size, and SIGWINCH', async () => {
    const log = path.join(scratch, 'resize.log');
    const out = await inTerminal(`stty cols 80 rows 24; ${CLI} "${TTY}" wait-resize 2>"${log}" & ` +
      `for i in $(seq 300); do grep -qs waiting "${log}" && break; sleep 0.1; done; stty rows 33; kill -WINCH $!; wait $!`);
    expect(out).toBe('');
    // (a background job's stdin is /dev/null; one stty change, one SIGWINCH)
    expect(fs.readFileSync(log, 'utf8')).toBe('isatty 0=0 1=1 2=0\nsize 80x24\nstdin settings Not a tty\nwaiting\nresized 80x33\n');
  });

  it('reads a terminal line by line, showing each prompt at once', async () => {
    const child = spawn('script', ['-qfec', `${CLI} "${path.join(TESTS, 'posix_stdin.js')}" lines`, '/dev/null'],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d).replace(/\r\n/g, '\n')));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await until(() => out.endsWith('name? '), 20000, `the first prompt; so far: ${JSON.stringify(out)}`);
    child.stdin.write('Ada\n');
    await until(() => out.endsWith('hello Ada\nname? '), 20000, `the second prompt; so far: ${JSON.stringify(out)}`);
    child.stdin.write('\x04'); // Ctrl-D: end of input
    await exited;
    // the terminal echoes what was typed
    expect(out).toBe('name? Ada\nhello Ada\nname? bye\n');
  });

  it('runProgram(): the truth by default (callbacks are not terminals), or what `terminal` says', async () => {
    const plain = await start(TTY, { transport: 'sim' }).outcome();
    expect(plain.stderr).toBe('isatty 0=0 1=0 2=0\nsize Not a tty\nstdin settings Not a tty\n');
    const p = start(TTY, { transport: 'sim', args: ['wait-resize'], terminal: { stdin: true, stdout: true, stderr: true, columns: 100, rows: 40 } });
    await until(() => p.out.stderr.includes('waiting'), 15000, 'the program to wait for SIGWINCH');
    p.resizeTerminal(120, 50);
    const told = await p.outcome();
    expect(told.stderr).toBe('isatty 0=1 1=1 2=1\nsize 100x40\nstdin settings canonical\nwaiting\nresized 120x50\n');
    expect(told.code).toBe(0);
  });
});
