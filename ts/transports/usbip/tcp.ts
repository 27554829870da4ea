/**
 * The usbip transport's TCP connections, in Node (net.Socket). Nagle's
 * algorithm is off, as usbipd and the kernel drivers set it: every URB is a
 * message that should leave at once; the messages of one turn of the event
 * loop leave in one write.
 * @module
 */
import net from 'node:net';
import { describeAddress, type ByteStream, type StreamHandlers, type UsbipServerAddress } from './stream.js';

/** How long connecting may take. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Connect to a USB/IP server over TCP. */
export function connectTcp(address: UsbipServerAddress, handlers: StreamHandlers): Promise<ByteStream> {
  if (address.kind !== 'tcp') {
    return Promise.reject(new Error(`usbip: ${describeAddress(address)} is a WebSocket URL; TCP needs host[:port]`));
  }
  const where = describeAddress(address);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port });
    let open = false;
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new Error(`usbip: no connection to ${where} within ${CONNECT_TIMEOUT_MS / 1000} s`);
      socket.destroy();
    }, CONNECT_TIMEOUT_MS);
    socket.setNoDelay(true);
    socket.on('connect', () => {
      open = true;
      clearTimeout(timer);
      resolve({ write: batchedWriter(socket), reportsSent: true, close: () => void socket.destroy() });
    });
    socket.on('data', (b: Buffer) => handlers.onData(new Uint8Array(b.buffer, b.byteOffset, b.length)));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      failure ??= new Error(`usbip: ${where}: ${e.code === 'ECONNREFUSED' ? 'connection refused (is a USB/IP server listening there?)' : e.message}`);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (open) handlers.onClose(failure);
      else reject(failure ?? new Error(`usbip: ${where} closed the connection`));
    });
  });
}

/**
 * Writes to a socket, those of one turn of the event loop together (one
 * writev): the transport host hands over every transfer a program posted
 * at once, each a message of its own.
 */
export function batchedWriter(socket: net.Socket): (bytes: Uint8Array, sent?: () => void) => void {
  let corked = false;
  return (bytes, sent) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    socket.write(bytes, sent);
  };
}
