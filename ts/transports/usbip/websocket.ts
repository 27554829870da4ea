/**
 * The usbip transport's connections in browsers: a WebSocket to the
 * package's bridge (`libusb-wasm usbip-bridge`), which forwards the bytes to
 * a USB/IP server it is allowed to reach. Binary messages carry the TCP
 * stream's bytes; their boundaries mean nothing.
 *
 * The WebSocket class is injected (the browser's by default; in Node 20, the
 * `ws` package's, which has the same shape).
 * @module
 */
import { describeAddress, type ByteStream, type StreamHandlers, type UsbipServerAddress } from './stream.js';

/** How long opening the WebSocket may take. */
const CONNECT_TIMEOUT_MS = 10_000;

/** The parts of a WebSocket used here (the browser's, or the `ws` package's). */
export interface WebSocketLike {
  binaryType: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Connect to a bridge's WebSocket URL. */
export function connectWebSocket(address: UsbipServerAddress, handlers: StreamHandlers,
  WebSocketClass: WebSocketConstructor | undefined = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket): Promise<ByteStream> {
  if (address.kind !== 'websocket') {
    return Promise.reject(new Error(`usbip: ${describeAddress(address)}: a browser cannot open TCP connections; `
      + 'run `libusb-wasm usbip-bridge` next to the server and give its ws:// URL'));
  }
  if (!WebSocketClass) return Promise.reject(new Error('usbip: no WebSocket in this environment'));
  const where = address.url;
  return new Promise((resolve, reject) => {
    const ws = new WebSocketClass(address.url);
    ws.binaryType = 'arraybuffer';
    let open = false;
    let closed = false;
    const timer = setTimeout(() => {
      if (!open) {
        closed = true;
        ws.close();
        reject(new Error(`usbip: the bridge at ${where} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`));
      }
    }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      open = true;
      clearTimeout(timer);
      // send() gives no word of when the bytes are out (the `ws` package may hold on to them while it
      // compresses): `sent` is never called, and reportsSent says so
      resolve({ write: (bytes) => ws.send(bytes), reportsSent: false, close: () => ws.close() });
    };
    ws.onmessage = (e) => {
      const d = e.data;
      if (d instanceof ArrayBuffer) handlers.onData(new Uint8Array(d));
      else if (ArrayBuffer.isView(d)) handlers.onData(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    };
    ws.onerror = () => {};
    ws.onclose = (e) => {
      clearTimeout(timer);
      if (closed) return;
      closed = true;
      const why = e.reason ? `: ${e.reason}` : ` (code ${e.code})`;
      if (open) handlers.onClose(e.code === 1000 ? undefined : new Error(`usbip: the bridge at ${where} closed the connection${why}`));
      else reject(new Error(`usbip: could not reach the bridge at ${where}${why}`));
    };
  });
}
