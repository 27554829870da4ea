/**
 * A program's TCP sockets on the machine's real network stack, through
 * Node's `net`, in the program's worker (its main runtime thread). Each C
 * socket (wasm/runtime/sockets.c) is a net.Socket or a net.Server here;
 * received bytes go into the C side's ring as it has room (the Node socket
 * is paused meanwhile: TCP flow control holds the peer back), and sent
 * bytes are Node's to buffer (the C side waits for 'drain' when Node says
 * its buffer is full). A sandbox's allow-list is checked here, outside the
 * program's wasm.
 * @module
 */
import net from 'node:net';
import { Errno, LwSockopt } from '../common/posix/ops.js';
import { RingFeed } from '../common/posix/ring-feed.js';
import type { SocketBridge, SocketEntries, SocketHost } from '../common/posix/socket-bridge.js';
import type { SocketPolicy } from '../common/posix/socket-policy.js';

const AF_INET6 = 10;
const SHUT_RD = 0;

/** Node's error codes as Emscripten's errno values. */
const ERRNO_OF_CODE: Record<string, number> = {
  EACCES: Errno.EACCES, EPERM: Errno.EACCES, EADDRINUSE: Errno.EADDRINUSE, EADDRNOTAVAIL: Errno.EADDRNOTAVAIL,
  ECONNREFUSED: Errno.ECONNREFUSED, ECONNRESET: Errno.ECONNRESET, ECONNABORTED: Errno.ECONNABORTED,
  EPIPE: Errno.EPIPE, ETIMEDOUT: Errno.ETIMEDOUT, ENETUNREACH: Errno.ENETUNREACH, ENETDOWN: Errno.ENETDOWN,
  EHOSTUNREACH: Errno.EHOSTUNREACH, ENOTFOUND: Errno.EHOSTUNREACH, EAI_AGAIN: Errno.EHOSTUNREACH,
};

function errnoOf(e: unknown): number {
  return ERRNO_OF_CODE[(e as { code?: string })?.code ?? ''] ?? Errno.EIO;
}

/** The eight 16-bit groups of an IPv6 address (an IPv4 tail, ::ffff:1.2.3.4, is two). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (v4) {
    const b = v4.slice(1).map(Number);
    text = `${address.slice(0, v4.index)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const first = head ? head.split(':') : [];
  const last = tail ? tail.split(':') : [];
  const groups = tail === undefined ? first : [...first, ...Array(8 - first.length - last.length).fill('0'), ...last];
  return groups.map((g) => parseInt(g, 16) || 0);
}

/** An address as the C side's four words (IPv4: the first one). */
function wordsOf(address: string, family: number): number[] {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (net.isIPv4(address) || (mapped && family !== AF_INET6)) {
    const b = (mapped ? mapped[1] : address).split('.').map(Number);
    const word = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    return family === AF_INET6 ? [0, 0, 0xffff, word] : [word, 0, 0, 0];
  }
  if (!net.isIPv6(address)) return [0, 0, 0, 0];
  const g = ipv6Groups(address);
  return [0, 1, 2, 3].map((i) => ((g[2 * i] << 16) | g[2 * i + 1]) >>> 0);
}

/** One C socket's Node side. */
interface Entry {
  family: number;
  socket?: net.Socket;
  server?: net.Server;
  /** connections a listening socket has not accepted yet */
  waiting: net.Socket[];
  /** received bytes on their way into the C side's ring */
  received: RingFeed;
  /** the peer finished sending (told to the C side once `received` is in) */
  ended?: number;
  /** connected: errors from now on are the connection's, not connect()'s answer */
  established?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
}

export class NetSocketBridge implements SocketBridge {
  private host?: SocketHost;
  private readonly entries = new Map<number, Entry>();
  private readonly said = new Set<string>();

  constructor(private readonly policy: SocketPolicy) {}

  attach(host: SocketHost): void {
    this.host = host;
  }

  private get c(): SocketEntries {
    return this.host!.entries;
  }

  /** A denial: EACCES, and one line on stderr per kind of denial. */
  private deny(what: string): number {
    if (!this.said.has(what)) {
      this.said.add(what);
      this.host?.stderr(`libusb-wasm: ${what}: not allowed by the program's sandbox policy ` +
        '(runProgram({ sockets: { listen: [...], connect: [...] } }) or --allow-listen/--allow-connect allow addresses)');
    }
    return -Errno.EACCES;
  }

  open(socket: number, family: number): number {
    if (!this.policy.any()) return this.deny('socket()');
    this.entries.set(socket, { family, waiting: [], received: this.receiveRing(socket) });
    return this.host!.openFd(socket);
  }

  bind(socket: number, address: string, port: number): number {
    const host = this.host!.hostName(address);
    return this.policy.mayListen(host, port) ? 0 : this.deny(`bind to ${host}:${port}`);
  }

  listen(socket: number, address: string, port: number, backlog: number): number {
    const entry = this.entries.get(socket);
    if (!entry) return -Errno.EBADF;
    const host = this.host!.hostName(address);
    if (!this.policy.mayListen(host, port)) return this.deny(`listen on ${host}:${port}`);
    // half-open as TCP is: the peer's end does not end this side
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
    entry.server = server;
    let listening = false;
    server.on('connection', (connection) => {
      entry.waiting.push(connection);
      this.c.lw_socket_incoming(socket, entry.waiting.length);
    });
    server.on('error', (e) => {
      if (!listening) this.c.lw_socket_listening(socket, errnoOf(e));
      else this.host!.stderr(`libusb-wasm: a listening socket failed: ${(e as Error).message}`);
    });
    server.listen({ host, port, backlog }, () => {
      listening = true;
      const bound = server.address() as net.AddressInfo;
      this.setAddress(socket, entry, 0, bound.address, bound.port);
      this.c.lw_socket_listening(socket, 0);
    });
    return 0;
  }

  connect(socket: number, address: string, port: number): number {
    const entry = this.entries.get(socket);
    if (!entry) return -Errno.EBADF;
    const host = this.host!.hostName(address);
    if (!this.policy.mayConnect(host, port)) return this.deny(`connect to ${host}:${port}`);
    const connection = net.connect({ host, port, allowHalfOpen: true });
    let connected = false;
    connection.on('connect', () => {
      connected = true;
      entry.established = true;
      this.setAddresses(socket, entry, connection);
      this.c.lw_socket_connected(socket, 0);
    });
    connection.on('error', (e) => {
      if (!connected) this.c.lw_socket_connected(socket, errnoOf(e));
    });
    this.adopt(socket, entry, connection);
    return 0;
  }

  accept(listener: number, socket: number): number {
    const from = this.entries.get(listener);
    const connection = from?.waiting.shift();
    if (!from || !connection) return -Errno.EAGAIN;
    this.c.lw_socket_incoming(listener, from.waiting.length);
    const entry: Entry = { family: from.family, waiting: [], received: this.receiveRing(socket), established: true };
    this.entries.set(socket, entry);
    this.setAddresses(socket, entry, connection);
    this.adopt(socket, entry, connection);
    connection.resume();
    return this.host!.openFd(socket);
  }

  /** A connected (or connecting) Node socket for this C socket. */
  private adopt(socket: number, entry: Entry, connection: net.Socket): void {
    entry.socket = connection;
    if (entry.noDelay !== undefined) connection.setNoDelay(entry.noDelay);
    if (entry.keepAlive !== undefined) connection.setKeepAlive(entry.keepAlive);
    connection.on('data', (data: Buffer) => {
      entry.received.push(data);
      this.space(socket);
    });
    connection.on('end', () => {
      entry.ended = 0;
      this.space(socket);
    });
    connection.on('error', (e) => {
      if (!entry.established) return;   // connect()'s answer
      entry.ended = errnoOf(e);
      this.space(socket);
    });
    connection.on('drain', () => this.c.lw_socket_set_writable(socket, 1));
  }

  private setAddresses(socket: number, entry: Entry, connection: net.Socket): void {
    this.setAddress(socket, entry, 0, connection.localAddress ?? '', connection.localPort ?? 0);
    this.setAddress(socket, entry, 1, connection.remoteAddress ?? '', connection.remotePort ?? 0);
  }

  private setAddress(socket: number, entry: Entry, peer: number, address: string, port: number): void {
    const [w0, w1, w2, w3] = wordsOf(address, entry.family);
    this.c.lw_socket_set_address(socket, peer, port, w0, w1, w2, w3);
  }

  /** Move received bytes into the C side's ring while it has room; pause the Node socket when it has none. */
  space(socket: number): void {
    const entry = this.entries.get(socket);
    if (!entry) return;
    if (entry.received.fill() === undefined) return; // nested: the fill in progress goes on
    if (!entry.received.empty) {
      entry.socket?.pause();
      return;
    }
    entry.socket?.resume();
    if (entry.ended !== undefined) {
      this.c.lw_socket_rx_end(socket, entry.ended);
      entry.ended = undefined;
    }
  }

  /** The receive ring of one C socket. */
  private receiveRing(socket: number): RingFeed {
    return new RingFeed({
      space: () => this.c.lw_socket_rx_space(socket),
      writeAt: () => this.c.lw_socket_rx_at(socket),
      commit: (n) => this.c.lw_socket_rx_commit(socket, n),
      heap: () => this.host!.heap(),
    });
  }

  send(socket: number, data: Uint8Array): number {
    const connection = this.entries.get(socket)?.socket;
    if (!connection || connection.destroyed || !connection.writable) return -Errno.EPIPE;
    if (!connection.write(data)) this.c.lw_socket_set_writable(socket, 0);
    return data.length;
  }

  shutdown(socket: number, how: number): void {
    const connection = this.entries.get(socket)?.socket;
    if (connection && how !== SHUT_RD) connection.end();
  }

  option(socket: number, option: number, value: number): void {
    const entry = this.entries.get(socket);
    if (!entry) return;
    if (option === LwSockopt.NODELAY) {
      entry.noDelay = value !== 0;
      entry.socket?.setNoDelay(entry.noDelay);
    } else if (option === LwSockopt.KEEPALIVE) {
      entry.keepAlive = value !== 0;
      entry.socket?.setKeepAlive(entry.keepAlive);
    }
  }

  closed(socket: number): void {
    const entry = this.entries.get(socket);
    this.entries.delete(socket);
    if (entry) this.destroy(entry);
    this.c.lw_socket_closed(socket);
  }

  private destroy(entry: Entry): void {
    const connection = entry.socket;
    if (connection) {
      // as close(2) does: what was sent still goes, then the connection ends
      connection.removeAllListeners('data');
      connection.on('error', () => {});
      connection.resume();
      if (connection.writable) connection.end(() => connection.destroy());
      else connection.destroy();
    }
    entry.server?.close();
    for (const waiting of entry.waiting) waiting.destroy();
  }

  close(): void {
    for (const entry of this.entries.values()) this.destroy(entry);
    this.entries.clear();
  }
}
