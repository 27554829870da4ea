/**
 * Test helpers for USB/IP. A tap: a TCP proxy between a client and a
 * server, on 127.0.0.1, that forwards every byte both ways, parses what
 * clients send (so a test can see the CMD_SUBMITs and CMD_UNLINKs a
 * transfer, a cancel or a timeout put on the wire), can rewrite what the
 * server sends (the fuzz test mutates it), and can drop every connection, as
 * a network would.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { UsbipParser } from '../ts/transports/usbip/parser.js';
import type { UsbipMessage } from '../ts/transports/usbip/protocol.js';

export interface UsbipTap {
  /** host:port to give clients. */
  readonly server: string;
  /** Every message clients sent, in order, over every connection. */
  readonly sent: UsbipMessage[];
  /** Connections open now. */
  connections(): number;
  /** Cut every connection (both sides see it closed). */
  dropAll(): void;
  close(): Promise<void>;
}

/** Options of {@link startTap}. */
export interface TapOptions {
  /** Per connection: a function through which every chunk the server sends passes on its way to the client. */
  rewriteReplies?: () => (chunk: Uint8Array) => Uint8Array;
}

/** Start a tap in front of the USB/IP server at `port` on 127.0.0.1. */
export async function startTap(port: number, options: TapOptions = {}): Promise<UsbipTap> {
  const sent: UsbipMessage[] = [];
  const pairs = new Set<[net.Socket, net.Socket]>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const parser = UsbipParser.forServer();
    const rewrite = options.rewriteReplies?.();
    client.on('data', (chunk: Buffer) => {
      try {
        sent.push(...parser.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
      } catch {
        // the tap only watches; the server judges
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(rewrite ? rewrite(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)) : chunk));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    server: `127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    sent,
    connections: () => pairs.size,
    dropAll() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
    },
    close: () => new Promise((resolve) => {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      proxy.close(() => resolve());
    }),
  };
}

/** Byte arrays one after the other. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
