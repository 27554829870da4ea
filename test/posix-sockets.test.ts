/**
 * TCP sockets from programs the Node runner runs reach the machine's real
 * network stack (wasm/runtime/sockets.c, ts/runner/node/socket-bridge.ts),
 * all on 127.0.0.1: a C server a Node client talks to, a C client talking
 * to a Node server, a program serving from poll() while it does USB work,
 * non-blocking connect with poll and select; under a sandbox policy,
 * sockets only where the allow-list says.
 */
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, TESTS, start, type Started } from './helpers.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const PROGRAM = path.join(TESTS, 'posix_sockets.js');

async function portOf(p: Started): Promise<number> {
  await p.waitFor(/listening \d+/);
  return Number(/listening (\d+)/.exec(p.out.stdout)![1]);
}

/** Connect to 127.0.0.1:port, send `data`, end, and collect everything until the other end closes. */
function talk(port: number, data: Buffer): Promise<{ reply: Buffer; localPort: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.end(data));
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => resolve({ reply: Buffer.concat(chunks), localPort: socket.localPort! }));
    socket.on('error', reject);
  });
}

/** A Node server on 127.0.0.1 answering each connection with `answer(received)` once a line came. */
async function nodeServer(answer: (line: string) => string): Promise<{ port: number; received: string[]; close(): void }> {
  const received: string[] = [];
  const server = net.createServer((socket) => {
    let text = '';
    socket.on('data', (d) => {
      text += d;
      if (text.includes('\n')) {
        received.push(text);
        socket.end(answer(text));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, received, close: () => server.close() };
}

describe('TCP sockets (Node)', () => {
  it('a C server accepts a Node client: 2 MiB each way, half-closed as TCP allows', async () => {
    const p = start(PROGRAM, { transport: 'sim', args: ['server'] });
    const port = await portOf(p);
    const data = Buffer.alloc(2 << 20, 'the quick brown fox ');
    const { reply, localPort } = await talk(port, data);
    expect(reply.equals(Buffer.from(data.toString().toUpperCase()))).toBe(true);
    const r = await p.outcome();
    expect(r.stdout).toBe(`listening ${port}\npeer 127.0.0.1:${localPort}\nserved ${data.length} bytes\n`);
    expect(r.code).toBe(0);
  });

  it('a C client talks to a Node server', async () => {
    const server = await nodeServer(() => 'hi C, from Node\n');
    try {
      const r = await start(PROGRAM, { transport: 'sim', args: ['client', String(server.port)] }).outcome();
      expect(server.received).toEqual(['hello from C\n']);
      expect(r.stdout).toBe('got: hi C, from Node\n');
      expect(r.code).toBe(0);
    } finally {
      server.close();
    }
  });

  it.each([['sim', { transport: 'sim' as const, devices: ['loopback'] }], ['webusb', { transport: { kind: 'webusb' as const, devices: ['loopback'] } }]])(
    'a program serves from poll() while it does USB work (%s)', async (_name, transport) => {
      const p = start(PROGRAM, { ...transport, args: ['poll-usb'] });
      const port = await portOf(p);
      const ask = (line: string) => new Promise<string>((resolve, reject) => {
        const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(line));
        socket.once('data', (d) => {
          resolve(String(d));
          socket.end();
        });
        socket.on('error', reject);
      });
      const first = Number(/usb (\d+)/.exec(await ask('count\n'))![1]);
      await new Promise((r) => setTimeout(r, 200));
      const second = Number(/usb (\d+)/.exec(await ask('count\n'))![1]);
      expect(second).toBeGreaterThan(first); // USB round trips went on between the two questions
      const quit = net.connect({ port, host: '127.0.0.1' }, () => quit.write('quit\n'));
      quit.on('error', () => {});
      const r = await p.outcome();
      expect(r.stdout).toMatch(/quit after \d+ USB round trips/);
      expect(r.code).toBe(0);
    });

  it('connects without blocking: EINPROGRESS, POLLOUT, SO_ERROR 0, EAGAIN, then select()', async () => {
    const server = await nodeServer((line) => (line === 'ping\n' ? 'pong\n' : 'what?\n'));
    try {
      const r = await start(PROGRAM, { transport: 'sim', args: ['nonblocking', String(server.port)] }).outcome();
      expect(r.stdout).toBe('reply: pong\n');
      expect(r.code).toBe(0);
    } finally {
      server.close();
    }
  });

  it('says ECONNREFUSED where nobody listens, and refuses what it cannot be', async () => {
    const closed = await nodeServer(() => '');
    closed.close(); // a port that was free a moment ago
    const refused = await start(PROGRAM, { transport: 'sim', args: ['refused', String(closed.port)] }).outcome();
    expect(refused.stdout).toBe('connect: Connection refused\n');
    const kinds = await start(PROGRAM, { transport: 'sim', args: ['kinds'] }).outcome();
    expect(kinds.stdout).toBe('AF_UNIX: Address family not supported by protocol\nSOCK_DGRAM: Protocol not supported\nrecv on a file: Not a socket\n');
  });
});

describe('sockets under a sandbox policy', () => {
  it('a program with a policy gets no sockets unless allowed, and is told why', async () => {
    const r = await start(PROGRAM, { transport: 'sim', policy: {}, args: ['denied', '3333'] }).outcome();
    expect(r.stdout).toBe('socket: Permission denied\n');
    expect(r.stderr).toContain("libusb-wasm: socket(): not allowed by the program's sandbox policy");
  });

  it('the allow-list lets it listen where listed, and nothing else', async () => {
    const sockets = { listen: ['127.0.0.1:*'] };
    const p = start(PROGRAM, { transport: 'sim', policy: {}, sockets, args: ['server'] });
    const port = await portOf(p);
    const { reply } = await talk(port, Buffer.from('allowed\n'));
    expect(String(reply)).toBe('ALLOWED\n');
    expect((await p.outcome()).code).toBe(0);
    const denied = await start(PROGRAM, { transport: 'sim', policy: {}, sockets, args: ['denied', '3333'] }).outcome();
    expect(denied.stdout).toBe('connect: Permission denied\n');
    expect(denied.stderr).toContain('connect to 127.0.0.1:3333: not allowed');
  });

  it('libusb-wasm run --sandbox --allow-connect lets a client reach its server only', async () => {
    const server = await nodeServer(() => 'allowed through\n');
    try {
      const cli = [path.join(ROOT, 'dist/cli.js'), 'run', '--sandbox', '--allow-connect', `127.0.0.1:${server.port}`, PROGRAM];
      const ok = await exec(process.execPath, [...cli, 'client', String(server.port)]);
      expect(ok.stdout).toBe('got: allowed through\n');
      const other = await exec(process.execPath, [...cli, 'denied', String(server.port + 1)]);
      expect(other.stdout).toBe(`bind: Permission denied\nconnect: Permission denied\n`);
    } finally {
      server.close();
    }
  });

  it('rejects a malformed allow-list at once', () => {
    expect(() => start(PROGRAM, { sockets: { listen: ['localhost'] } })).toThrow(/sockets.listen: 'localhost' is not HOST:PORT/);
  });
});
