/**
 * How a program's TCP sockets (wasm/runtime/sockets.c) reach a network:
 * a SocketBridge answers the C side's socket calls on the main runtime
 * thread and reports what happens through the C side's functions. Node's is
 * ../../node/socket-bridge.ts (the machine's network stack); where there is
 * none (browsers) or the sandbox allows none, NoSockets refuses them.
 * @module
 */
import { Errno } from './ops.js';

/** The C side's functions for sockets (`socket` is the C struct's address). */
export interface SocketEntries {
  lw_socket_connected(socket: number, errno: number): void;
  lw_socket_listening(socket: number, errno: number): void;
  lw_socket_incoming(socket: number, waiting: number): void;
  lw_socket_set_address(socket: number, peer: number, port: number, w0: number, w1: number, w2: number, w3: number): void;
  lw_socket_rx_at(socket: number): number;
  lw_socket_rx_space(socket: number): number;
  lw_socket_rx_commit(socket: number, count: number): void;
  lw_socket_rx_end(socket: number, errno: number): void;
  lw_socket_set_writable(socket: number, writable: number): void;
  lw_socket_closed(socket: number): void;
}

/** What a bridge works with, given once the program's file system is up. */
export interface SocketHost {
  entries: SocketEntries;
  heap(): Uint8Array;
  /** A new fd for the socket (its kind is set for the C side). */
  openFd(socket: number): number;
  /** The host name behind an address Emscripten's getaddrinfo() made up, or the address. */
  hostName(address: string): string;
  stderr(line: string): void;
}

/** The C side's socket calls. Each answers >= 0, or -errno (Emscripten's numbering: ops.ts Errno). */
export interface SocketBridge {
  attach(host: SocketHost): void;
  /** A new socket of this family (2: IPv4, 10: IPv6): its fd. */
  open(socket: number, family: number): number;
  /** May it be bound to this address (the policy)? */
  bind(socket: number, address: string, port: number): number;
  /** Start listening; the outcome goes to lw_socket_listening. */
  listen(socket: number, address: string, port: number, backlog: number): number;
  /** Start connecting; the outcome goes to lw_socket_connected. */
  connect(socket: number, address: string, port: number): number;
  /** Give a waiting connection of `listener` to the new socket: its fd, or -EAGAIN when none waits. */
  accept(listener: number, socket: number): number;
  /** Send these bytes (a copy): how many were taken. */
  send(socket: number, data: Uint8Array): number;
  shutdown(socket: number, how: number): void;
  option(socket: number, option: number, value: number): void;
  /** The program took received bytes: there is room for more. */
  space(socket: number): void;
  /** Its last fd was closed. */
  closed(socket: number): void;
  /** The program ended. */
  close(): void;
}

/** Refuses every socket with one errno and says why on stderr, once. */
export class NoSockets implements SocketBridge {
  private host?: SocketHost;
  private said = false;

  /**
   * @param errno what socket() fails with (ENOSYS where there is no network, EACCES under a policy)
   * @param why the line for stderr
   */
  constructor(private readonly errno: number, private readonly why: string) {}

  attach(host: SocketHost): void {
    this.host = host;
  }

  open(): number {
    if (!this.said) {
      this.said = true;
      this.host?.stderr(`libusb-wasm: socket(): ${this.why}`);
    }
    return -this.errno;
  }

  bind(): number { return -Errno.EBADF; }
  listen(): number { return -Errno.EBADF; }
  connect(): number { return -Errno.EBADF; }
  accept(): number { return -Errno.EBADF; }
  send(): number { return -Errno.EBADF; }
  shutdown(): void {}
  option(): void {}
  space(): void {}
  closed(): void {}
  close(): void {}
}
