/**
 * The WebSocket bridge (`libusb-wasm usbip-bridge`): browsers cannot open
 * TCP connections, so the usbip transport in a page reaches a USB/IP server
 * through a WebSocket to this bridge, which carries the bytes both ways.
 *
 * It forwards only to the servers it was told to allow: a page asks for one
 * with `?server=host:port` (or gets the only one allowed), and anything
 * else is refused at the handshake. It is never an open TCP proxy. It
 * also checks the page's Origin: by default only pages served from this
 * machine (localhost, 127.0.0.1, [::1]) may connect, since any web page the
 * user visits could otherwise reach the allowed servers' devices.
 * @module
 */
import http from 'node:http';
import net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { describeAddress, parseServerAddress } from '../../transports/usbip/stream.js';

/** Options of {@link UsbipBridge.start}. */
export interface UsbipBridgeOptions {
  /** USB/IP servers the bridge may forward to: `host[:port]` (port 3240 by default). At least one. */
  allow: string[];
  /**
   * Origins of pages that may connect: URLs like `https://ide.example`, or
   * `*` for any. Default: pages served from this machine only. Clients
   * that send no Origin (not browsers) are always let in.
   */
  allowOrigins?: string[];
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 3241; 0 picks a free one). */
  port?: number;
  /** Connection events and refusals (default: console.error). */
  log?: (message: string) => void;
}

/** The bridge's default port (USB/IP's own, plus one). */
export const BRIDGE_PORT = 3241;
/** Stop reading from the server while this much waits to go out on the WebSocket. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

interface Target {
  host: string;
  port: number;
  /** As written, normalised: "host:port". */
  name: string;
}

/** The WebSocket bridge (see the module's description); {@link UsbipBridge.start} starts one. */
export class UsbipBridge {
  /** The address it listens on. */
  readonly host: string;
  /** The port it listens on. */
  readonly port: number;
  /** The WebSocket URL pages connect to. */
  readonly url: string;

  private constructor(private readonly http: http.Server, private readonly wss: WebSocketServer) {
    const a = http.address() as net.AddressInfo;
    this.host = a.address;
    this.port = a.port;
    this.url = `ws://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`;
  }

  /** Start listening; rejects with a message saying why it cannot (a bad --allow, a port in use). */
  static async start(options: UsbipBridgeOptions): Promise<UsbipBridge> {
    const log = options.log ?? ((m: string) => console.error(`usbip-bridge: ${m}`));
    const targets = options.allow.map(targetOf);
    if (!targets.length) throw new Error('usbip-bridge: allow at least one USB/IP server (--allow host[:port])');
    const originAllowed = originRule(options.allowOrigins);
    const server = http.createServer((_, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('a WebSocket endpoint for USB/IP\n'));
    const wss = new WebSocketServer({
      server,
      verifyClient: (info: { origin: string; req: http.IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
        const from = info.req.socket.remoteAddress;
        if (info.origin && !originAllowed(info.origin)) {
          log(`refused ${from}: pages from ${info.origin} are not allowed (--allow-origin)`);
          return done(false, 403, 'origin not allowed');
        }
        const target = chooseTarget(info.req.url ?? '/', targets);
        if (typeof target === 'string') {
          log(`refused ${from}: ${target}`);
          return done(false, 403, target);
        }
        (info.req as http.IncomingMessage & { usbipTarget?: Target }).usbipTarget = target;
        done(true);
      },
    });
    wss.on('connection', (ws, req) => pipe(ws, (req as http.IncomingMessage & { usbipTarget: Target }).usbipTarget, req.socket.remoteAddress, log));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code === 'EADDRINUSE'
        ? `port ${options.port ?? BRIDGE_PORT} is in use (pick another with --port)` : `cannot listen: ${e.message}`)));
      server.listen(options.port ?? BRIDGE_PORT, options.host ?? '127.0.0.1', () => resolve());
    });
    log(`forwarding to ${targets.map((t) => t.name).join(', ')}`);
    return new UsbipBridge(server, wss);
  }

  /** Stop listening and end every connection. */
  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

function targetOf(text: string): Target {
  const a = parseServerAddress(text);
  if (a.kind !== 'tcp') throw new Error(`usbip-bridge: --allow takes host[:port] of a USB/IP server, not ${text}`);
  return { host: a.host.toLowerCase(), port: a.port, name: describeAddress({ ...a, host: a.host.toLowerCase() }) };
}

/** The allowed server a request names (`?server=host:port`), or why there is none. */
function chooseTarget(url: string, targets: Target[]): Target | string {
  const asked = new URL(url, 'ws://bridge').searchParams.get('server');
  if (asked === null) return targets.length === 1 ? targets[0] : `no ?server= given, and ${targets.length} servers are allowed`;
  let wanted: Target;
  try {
    wanted = targetOf(asked);
  } catch {
    return `?server=${asked} is not host[:port]`;
  }
  return targets.find((t) => t.name === wanted.name) ?? `${wanted.name} is not an allowed server`;
}

/** Which page origins may connect. */
function originRule(allowed: string[] | undefined): (origin: string) => boolean {
  if (allowed?.includes('*')) return () => true;
  if (allowed?.length) {
    const set = new Set(allowed.map((o) => new URL(o).origin));
    return (origin) => set.has(origin);
  }
  return (origin) => {
    try {
      return ['localhost', '127.0.0.1', '[::1]'].includes(new URL(origin).hostname);
    } catch {
      return false;
    }
  };
}

/** Carry bytes both ways between a WebSocket and a TCP connection to the server. */
function pipe(ws: WebSocket, target: Target, from: string | undefined, log: (m: string) => void): void {
  const tcp = net.connect({ host: target.host, port: target.port });
  tcp.setNoDelay(true);
  const pendingToServer: Buffer[] = [];
  let connected = false;
  tcp.on('connect', () => {
    connected = true;
    for (const b of pendingToServer) tcp.write(b);
    pendingToServer.length = 0;
  });
  tcp.on('data', (chunk: Buffer) => {
    ws.send(chunk);
    if (ws.bufferedAmount > HIGH_WATER_BYTES) {
      tcp.pause();
      const resume = () => (ws.bufferedAmount > HIGH_WATER_BYTES ? setTimeout(resume, 5) : tcp.resume());
      setTimeout(resume, 5);
    }
  });
  tcp.on('error', (e) => log(`${from} -> ${target.name}: ${e.message}`));
  tcp.on('close', () => ws.close(1000));
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      log(`${from}: a text message; USB/IP is binary. Connection closed`);
      ws.close(1003, 'binary messages only');
      return;
    }
    const chunk = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (connected) tcp.write(chunk);
    else pendingToServer.push(chunk);
  });
  ws.on('close', () => tcp.destroy());
  ws.on('error', () => tcp.destroy());
}
