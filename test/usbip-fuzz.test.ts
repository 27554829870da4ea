/**
 * Hostile peers, both ways. Thousands of mutated USB/IP messages (bit
 * flips, overwritten fields with boundary values, truncation, duplication,
 * insertion), from clients to the server and from a server to the usbip
 * transport: each connection that gets a broken message is closed with one
 * line saying why, nothing throws, every transfer settles, and a client
 * using another device on the same server the whole time sees nothing but
 * byte-exact loopback.
 *
 * The generator is seeded (LIBUSB_WASM_FUZZ_SEED reproduces a run).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './helpers.js';
import { concatBytes, startTap } from './usbip-helpers.js';
import { SimBus } from '../ts/sim/bus.js';
import { LoopbackDevice } from '../ts/sim/models/loopback.js';
import { SimTransport } from '../ts/sim/transport.js';
import { UsbipServer } from '../ts/runner/usbip/server.js';
import { UsbipTransport } from '../ts/transports/usbip/index.js';
import { connectFromNode } from '../ts/transports/usbip/node.js';
import type { UsbipDevice } from '../ts/transports/usbip/device.js';
import {
  encodeCmdSubmit, encodeCmdUnlink, encodeReqDevlist, encodeReqImport,
} from '../ts/transports/usbip/protocol.js';
import { TransferStatus, TransferType } from '../ts/usb/constants.js';
import type { TransferCompletion, TransferRequest } from '../ts/transports/transport.js';

const SEED = Number(process.env.LIBUSB_WASM_FUZZ_SEED ?? Date.now() % 1_000_000);
/** Fuzz devices (1-1 .. 1-LANES), one per parallel lane; the victim's device comes after them. */
const LANES = 6;
const VICTIM = `1-${LANES + 1}`;

/** mulberry32: small, seedable. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One to three mutations of `bytes` (never the identity). */
function mutate(bytes: Uint8Array, rnd: () => number, from = 0): Uint8Array {
  let b: Uint8Array = Uint8Array.from(bytes);
  const at = () => from + Math.floor(rnd() * Math.max(1, b.length - from));
  const times = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < times; i++) {
    const kind = Math.floor(rnd() * 7);
    const p = at();
    if (kind === 0 && b.length) b[p] ^= 1 << Math.floor(rnd() * 8);
    else if (kind === 1 && b.length) b[p] = Math.floor(rnd() * 256);
    else if (kind === 2 && b.length >= 4) {
      const q = Math.min(p & ~3, b.length - 4);
      new DataView(b.buffer).setUint32(q, INTERESTING[Math.floor(rnd() * INTERESTING.length)]);
    } else if (kind === 3) b = b.slice(0, p);
    else if (kind === 4) {
      const n = 1 + Math.floor(rnd() * 64);
      b = concatBytes(b.subarray(0, p), b.subarray(p, p + n), b.subarray(p));
    } else if (kind === 5) {
      b = concatBytes(b.subarray(0, p), Uint8Array.from({ length: 1 + Math.floor(rnd() * 48) }, () => Math.floor(rnd() * 256)), b.subarray(p));
    } else {
      b = concatBytes(b.subarray(0, p), b.subarray(p + 1 + Math.floor(rnd() * 16)));
    }
  }
  return b;
}


/** A client that keeps looping data through the victim device, byte-exact, until stopped. */
function victimLoop(server: string, log: string[]) {
  let stop = false;
  let rounds = 0;
  const failures: string[] = [];
  const transport = new UsbipTransport({ server, connect: connectFromNode, log: (m) => log.push(m), pollIntervalMs: 60_000 });
  let device!: UsbipDevice;
  const ready = (async () => {
    device = (await transport.getDevices()).find((d) => (d as UsbipDevice).info.busid === VICTIM) as UsbipDevice;
    await device.open();
    await device.claimInterface(0);
  })();
  const done = ready.then(async () => {
    const rnd = random(SEED ^ 0x5555);
    while (!stop) {
      const size = 1 + Math.floor(rnd() * 4096);
      const data = Uint8Array.from({ length: size }, () => Math.floor(rnd() * 256));
      const out = await device.transfer(bulk(0x01, size, data));
      const back = await device.transfer(bulk(0x81, size));
      if (out.status !== TransferStatus.COMPLETED || back.status !== TransferStatus.COMPLETED
        || !back.data || Buffer.compare(Buffer.from(back.data), Buffer.from(data)) !== 0) {
        failures.push(`round ${rounds}: out ${out.status}, in ${back.status}, ${back.data?.length} bytes`);
        break;
      }
      rounds++;
    }
    await device.close();
    await transport.close();
  });
  return { ready, stop: async () => { stop = true; await done; return { rounds, failures }; } };
}

function bulk(endpoint: number, length: number, data?: Uint8Array): TransferRequest {
  return { type: TransferType.BULK, endpoint, length, data, zeroLengthPacket: false, timeout: 0 };
}

/** Loopback devices on a simulated bus, exported by our server on a free port. */
async function startServer(log: string[]) {
  const devices = Array.from({ length: LANES + 1 }, (_, i) => new LoopbackDevice({ serialNumber: `FZ${i}` }));
  const transport = new SimTransport(new SimBus(), { devices });
  const server = await UsbipServer.start({ transport, port: 0, log: (m) => log.push(m) });
  return { server, address: `127.0.0.1:${server.port}` };
}

describe(`hostile peers (seed ${SEED})`, () => {
  let server: UsbipServer;
  let address: string;
  const serverLog: string[] = [];

  beforeAll(async () => {
    ({ server, address } = await startServer(serverLog));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('mutated requests and commands from clients: each connection closed with one reason, nothing else affected', async () => {
    const victimLog: string[] = [];
    const victim = victimLoop(address, victimLog);
    await victim.ready;
    const rnd = random(SEED);
    const CONNECTIONS = 1500;
    let messages = 0;
    const repeated: string[] = [];
    const corpus = (lane: number): Uint8Array[] => {
      const devid = (1 << 16) | (lane + 1);
      const setup = (b: number[]) => Uint8Array.from(b);
      const submit = (seqnum: number, direction: number, endpoint: number, length: number, extra: Partial<Parameters<typeof encodeCmdSubmit>[0]> = {}) =>
        encodeCmdSubmit({ seqnum, devid, direction, endpoint, transferFlags: direction ? 0x200 : 0, transferBufferLength: length, startFrame: 0,
          numberOfPackets: 0, interval: 0, setup: new Uint8Array(8), ...extra });
      const data = Uint8Array.from({ length: 100 }, (_, i) => i);
      switch (Math.floor(rnd() * 4)) {
        case 0: return [encodeReqDevlist()];
        case 1: return [encodeReqImport(VICTIM)]; // busy: the victim holds it
        default: return [
          encodeReqImport(`1-${lane + 1}`),
          submit(1, 1, 0, 18, { setup: setup([0x80, 6, 0, 1, 0, 0, 18, 0]) }),
          submit(2, 0, 0, 0, { setup: setup([0, 9, 1, 0, 0, 0, 0, 0]) }),
          submit(3, 0, 1, 100, { data }),
          submit(4, 1, 1, 100),
          submit(5, 1, 1, 512),
          encodeCmdUnlink({ seqnum: 6, devid, unlinkSeqnum: 5 }),
          submit(7, 1, 3, 64, { numberOfPackets: 2, isoPackets: [{ offset: 0, length: 32, actualLength: 0, status: 0 }, { offset: 32, length: 32, actualLength: 0, status: 0 }] }),
        ];
      }
    };
    const one = async (lane: number) => {
      const messagesOf = corpus(lane);
      messages += messagesOf.length;
      // mutate one message (sometimes two), keep the rest as they were
      const target = Math.floor(rnd() * messagesOf.length);
      messagesOf[target] = mutate(messagesOf[target], rnd);
      if (rnd() < 0.2) messagesOf.reverse();
      const bytes = concatBytes(...messagesOf);
      const logFrom = serverLog.length;
      let peer = '';
      await new Promise<void>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port: server.port });
        let idle: ReturnType<typeof setTimeout>;
        const quiet = () => {
          clearTimeout(idle);
          idle = setTimeout(() => s.destroy(), 120);
        };
        s.on('connect', () => {
          peer = `${s.localAddress}:${s.localPort} `;
          // in a few random pieces
          let o = 0;
          while (o < bytes.length) {
            const n = 1 + Math.floor(rnd() * 200);
            s.write(bytes.subarray(o, o + n));
            o += n;
          }
          quiet();
        });
        s.on('data', quiet);
        s.on('error', () => {});
        s.on('close', () => {
          clearTimeout(idle);
          resolve();
        });
      });
      // at most one line saying why this connection was closed
      const lines = serverLog.slice(logFrom).filter((l) => l.startsWith(peer) && /broke the protocol/.test(l));
      if (lines.length > 1) repeated.push(...lines);
    };
    const lanes = Array.from({ length: LANES }, async (_, lane) => {
      for (let i = lane; i < CONNECTIONS; i += LANES) await one(lane);
    });
    await Promise.all(lanes);
    const { rounds, failures } = await victim.stop();
    expect(failures).toEqual([]);
    expect(rounds).toBeGreaterThan(10);
    expect(victimLog).toEqual([]);
    expect(messages).toBeGreaterThan(5000);
    if (process.env.LIBUSB_WASM_FUZZ_SHOW) console.log([...new Set(serverLog.map((l) => l.replace(/\d+/g, 'N')))].join('\n'));
    // one line per broken connection, saying what broke
    const broke = serverLog.filter((l) => /broke the protocol/.test(l));
    expect(broke.length).toBeGreaterThan(CONNECTIONS / 4);
    expect(repeated).toEqual([]);
    // every fuzzed device is released, and works for a well-behaved client
    await until(() => server.devices().every((d) => !d.importedBy), 15_000, 'every device to be released');
    await checkLoopback(address, '1-1');
  });

  it('mutated replies from a server: the usbip transport closes that connection with one reason; transfers settle', async () => {
    const victimLog: string[] = [];
    const victim = victimLoop(address, victimLog);
    await victim.ready;
    const rnd = random(SEED ^ 0xabcd);
    const proxy = await mutatingProxy(server.port, rnd);
    const ITERATIONS = 450;
    const clientLog: string[] = [];
    const unsettled: string[] = [];
    const repeated: string[] = [];
    let transfers = 0;
    const iteration = async (lane: number) => {
      const log: string[] = [];
      const transport = new UsbipTransport({ server: proxy.address, connect: connectFromNode, log: (m) => log.push(m), pollIntervalMs: 60_000, timeoutMs: 1500 });
      try {
        const device = (await transport.getDevices()).find((d) => (d as UsbipDevice).info.busid === `1-${lane + 1}`) as UsbipDevice | undefined;
        if (!device) return;
        try {
          await device.open();
        } catch (e) {
          log.push(String((e as Error).message));
          return;
        }
        const requests: TransferRequest[] = [
          bulk(0x01, 300, Uint8Array.from({ length: 300 }, (_, i) => i)),
          bulk(0x81, 300),
          bulk(0x81, 512),
          { type: TransferType.CONTROL, endpoint: 0x80, setup: { bmRequestType: 0x80, bRequest: 6, wValue: 0x0100, wIndex: 0, wLength: 18 }, length: 18, zeroLengthPacket: false, timeout: 0 },
          { type: TransferType.ISOCHRONOUS, endpoint: 0x83, length: 64, isoPacketLengths: [32, 32], zeroLengthPacket: false, timeout: 0 },
        ];
        transfers += requests.length;
        const results = requests.map((r) => settleWithin(device, r, 800, 9000));
        for (const [i, p] of results.entries()) {
          const r = await p;
          if (r === 'never') unsettled.push(`lane ${lane} transfer ${i}`);
          else expect(Object.values(TransferStatus)).toContain(r.status);
        }
        await device.close();
      } finally {
        await transport.close();
        clientLog.push(...log);
        // one line saying why the connection ended
        const reasons = log.filter((l) => /broke the protocol|did not answer/.test(l));
        if (reasons.length > 1) repeated.push(...reasons);
      }
    };
    await Promise.all(Array.from({ length: LANES }, async (_, lane) => {
      for (let i = lane; i < ITERATIONS; i += LANES) await iteration(lane);
    }));
    await proxy.close();
    const { rounds, failures } = await victim.stop();
    expect(unsettled).toEqual([]);
    expect(repeated).toEqual([]);
    expect(failures).toEqual([]);
    expect(rounds).toBeGreaterThan(10);
    expect(victimLog).toEqual([]);
    expect(proxy.mutated()).toBeGreaterThan(ITERATIONS / 2);
    if (process.env.LIBUSB_WASM_FUZZ_SHOW) console.log([...new Set(clientLog.map((l) => l.replace(/\d+/g, 'N')))].join('\n'));
    expect(transfers).toBeGreaterThan(ITERATIONS);
    expect(clientLog.filter((l) => /broke the protocol/.test(l)).length).toBeGreaterThan(ITERATIONS / 10);
    await until(() => server.devices().every((d) => !d.importedBy), 15_000, 'every device to be released');
    await checkLoopback(address, '1-2');
  });
});

/** A transfer's outcome, cancelling it after `cancelAfterMs`; 'never' if it has not settled after `limitMs`. */
async function settleWithin(device: UsbipDevice, request: TransferRequest, cancelAfterMs: number, limitMs: number): Promise<TransferCompletion | 'never'> {
  const result = Promise.resolve(device.transfer(request));
  const cancel = setTimeout(() => device.cancel(request), cancelAfterMs);
  let limit: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([result, new Promise<'never'>((r) => (limit = setTimeout(() => r('never'), limitMs)))]);
  } finally {
    clearTimeout(cancel);
    clearTimeout(limit);
  }
}

/** A client doing byte-exact loopback on `busid`. */
async function checkLoopback(address: string, busid: string): Promise<void> {
  const transport = new UsbipTransport({ server: address, connect: connectFromNode, log: () => {}, pollIntervalMs: 60_000 });
  try {
    const device = (await transport.getDevices()).find((d) => (d as UsbipDevice).info.busid === busid) as UsbipDevice;
    await device.open();
    await device.claimInterface(0);
    const data = Uint8Array.from({ length: 777 }, (_, i) => (i * 3) & 0xff);
    expect((await device.transfer(bulk(0x01, 777, data))).status).toBe(TransferStatus.COMPLETED);
    expect((await device.transfer(bulk(0x81, 777))).data).toEqual(data);
    await device.close();
  } finally {
    await transport.close();
  }
}

/**
 * A tap that passes client bytes through and mutates the server's: once
 * per connection, at a random point (mostly after the operation reply).
 */
async function mutatingProxy(port: number, rnd: () => number) {
  let mutated = 0;
  const tap = await startTap(port, {
    rewriteReplies: () => {
      const at = rnd() < 0.2 ? Math.floor(rnd() * 320) : 320 + Math.floor(rnd() * 2400);
      let seen = 0;
      let done = false;
      return (chunk) => {
        let bytes = chunk;
        if (!done && seen + chunk.length > at) {
          bytes = mutate(chunk, rnd, at - seen);
          done = true;
          mutated++;
        }
        seen += chunk.length;
        return bytes;
      };
    },
  });
  return { address: tap.server, mutated: () => mutated, close: () => tap.close() };
}
