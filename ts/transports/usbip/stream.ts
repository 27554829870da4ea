/**
 * How the usbip transport reaches a server: a byte stream, injected, so the
 * transport itself imports nothing of Node or of the browser. Node connects
 * with TCP (./tcp.ts); browsers, which cannot open TCP connections, go
 * through a WebSocket to the package's bridge (./websocket.ts), which
 * forwards the bytes to the USB/IP server it is allowed to reach.
 * @module
 */
import { USBIP_PORT } from './protocol.js';

/** Where a USB/IP server is: TCP (Node), or a WebSocket bridge's URL. */
export type UsbipServerAddress =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'websocket'; url: string };

/** What a stream tells its owner. */
export interface StreamHandlers {
  /** Bytes received, in order. The array is the owner's to keep. */
  onData(chunk: Uint8Array): void;
  /** The stream is closed (by either side); `error` when it failed. Called once. */
  onClose(error?: Error): void;
}

/** An open connection. */
export interface ByteStream {
  /**
   * Send bytes, in order. The stream may hold on to the array until they
   * are sent; `sent`, when given, is called once it no longer needs it (a
   * stream that cannot tell never calls it: see {@link reportsSent}).
   */
  write(bytes: Uint8Array, sent?: () => void): void;
  /**
   * Whether write() calls its `sent` callback. Without it, the owner never
   * learns when an array is free again (and must not count on reusing it).
   */
  readonly reportsSent?: boolean;
  /** Close the connection; onClose follows. */
  close(): void;
}

/**
 * Opens a connection; resolves once it is open, rejects with an error that
 * says what failed (refused, unreachable, timed out).
 */
export type UsbipConnector = (address: UsbipServerAddress, handlers: StreamHandlers) => Promise<ByteStream>;

/**
 * `host`, `host:port`, `[v6 address]:port` (TCP; port 3240 by default), or a
 * `ws://` / `wss://` URL (a bridge). Throws a message that says what is
 * accepted.
 */
export function parseServerAddress(text: string): UsbipServerAddress {
  const s = text.trim();
  if (/^wss?:\/\//i.test(s)) {
    try {
      return { kind: 'websocket', url: new URL(s).href };
    } catch {
      throw new Error(`usbip: '${text}' is not a valid WebSocket URL`);
    }
  }
  const m = /^(?:\[([0-9a-f:.]+)\]|([^\s:/[\]]+))(?::(\d{1,5}))?$/i.exec(s);
  const port = m?.[3] === undefined ? USBIP_PORT : Number(m[3]);
  if (!m || port < 1 || port > 65535) {
    throw new Error(`usbip: server '${text}' should be host[:port] (port 3240 by default), [ipv6]:port, or a ws:// URL of a bridge`);
  }
  return { kind: 'tcp', host: m[1] ?? m[2], port };
}

/** An address as people write it, for messages. */
export function describeAddress(a: UsbipServerAddress): string {
  if (a.kind === 'websocket') return a.url;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
