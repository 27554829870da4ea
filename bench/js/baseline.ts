/**
 * The JS baseline: the loops of bench/c/datapath.c written directly in JS
 * against the same simulated loopback device, with no wasm and no libusb in
 * between. bench/run.mjs runs it in a fresh worker thread per run, as the
 * wasm program gets one, and compares every figure with it.
 *
 * It prints exactly the lines datapath.c prints, so both are parsed alike.
 * `target` picks how the device is reached: one entry per transport. Each
 * is the fastest straightforward JS against that device: like the C loops,
 * every in-flight slot owns its buffers and reuses them, and IN data goes
 * straight into them where the device's API allows it (the sim transport's
 * `into`, which the wasm path uses too; WebUSB has no such thing and hands
 * every IN transfer a fresh buffer, to the baseline as to the wasm path).
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LoopbackDevice, LoopbackRequest } from '../../ts/sim/models/index.js';
import { SimTransport } from '../../ts/sim/transport.js';
import { SimBus } from '../../ts/sim/bus.js';
import { SimUSB } from '../../ts/sim/webusb/sim-usb.js';
import { TransferStatus, TransferType, type TransferStatusCode } from '../../ts/usb/constants.js';
import type { SetupPacket, TransferCompletion } from '../../ts/transports/transport.js';
import { ImportedConnection, type UrbSubmission } from '../../ts/transports/usbip/client-connection.js';
import { parseServerAddress } from '../../ts/transports/usbip/stream.js';
import { transferStatusOf } from '../../ts/usb/urb-status.js';
import { connectTcp } from '../../ts/transports/usbip/tcp.js';
import { encodeSetupPacket } from '../../ts/usb/setup-packet.js';

/** What the loops need from a device: what a JS program would call. */
interface Target {
  /** `into`: the caller's buffer for the data, if the device can fill it in place. */
  controlIn(setup: SetupPacket, into: Uint8Array): Promise<TransferCompletion> | TransferCompletion;
  controlOut(setup: SetupPacket): Promise<TransferCompletion> | TransferCompletion;
  bulkOut(endpoint: number, data: Uint8Array): Promise<TransferCompletion> | TransferCompletion;
  bulkIn(endpoint: number, length: number, into: Uint8Array): Promise<TransferCompletion> | TransferCompletion;
}

/** How each transport's baseline reaches the loopback device. */
const targets: Record<string, () => Promise<Target>> = {
  /** The sim transport's device object: the one the transport host calls. */
  async sim() {
    const transport = new SimTransport(new SimBus(), { devices: [new LoopbackDevice()] });
    const [td] = await transport.getDevices();
    await td.open();
    await td.claimInterface(0);
    const { CONTROL, BULK } = TransferType;
    return {
      controlIn: (setup, into) => td.transfer({ type: CONTROL, endpoint: 0x80, setup, length: setup.wLength, into, zeroLengthPacket: false, timeout: 5000 }),
      controlOut: (setup) => td.transfer({ type: CONTROL, endpoint: 0x00, setup, length: 0, zeroLengthPacket: false, timeout: 5000 }),
      bulkOut: (endpoint, data) => td.transfer({ type: BULK, endpoint, data, length: data.length, zeroLengthPacket: false, timeout: 5000 }),
      bulkIn: (endpoint, length, into) => td.transfer({ type: BULK, endpoint, length, into, zeroLengthPacket: false, timeout: 5000 }),
    };
  },
  /** The same device behind navigator.usb's shape: what a web page's JS calls. */
  async webusb() {
    const bus = new SimBus();
    bus.plug(new LoopbackDevice());
    const [d] = await new SimUSB(bus, { protectedClasses: [] }).getDevices();
    await d.open();
    await d.claimInterface(0);
    const status = (s: string): TransferStatusCode => (s === 'ok' ? TransferStatus.COMPLETED : s === 'stall' ? TransferStatus.STALL : TransferStatus.OVERFLOW);
    const inResult = (r: { status: string; data: DataView | null }): TransferCompletion => ({
      status: status(r.status), data: r.data ? new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength) : undefined,
    });
    const params = (s: SetupPacket) => ({
      requestType: (['standard', 'class', 'vendor'] as const)[(s.bmRequestType >> 5) & 3],
      recipient: (['device', 'interface', 'endpoint', 'other'] as const)[s.bmRequestType & 3],
      request: s.bRequest, value: s.wValue, index: s.wIndex,
    });
    return {
      controlIn: async (setup) => inResult(await d.controlTransferIn(params(setup), setup.wLength)),
      controlOut: async (setup) => {
        const r = await d.controlTransferOut(params(setup));
        return { status: status(r.status), bytesWritten: r.bytesWritten };
      },
      bulkOut: async (endpoint, data) => {
        const r = await d.transferOut(endpoint & 0x0f, data as Uint8Array<ArrayBuffer>);
        return { status: status(r.status), bytesWritten: r.bytesWritten };
      },
      bulkIn: async (endpoint, length) => inResult(await d.transferIn(endpoint & 0x0f, length)),
    };
  },
  /**
   * The same device exported by `usbip-serve` (bench/usbip.mjs): the USB/IP
   * exchanges themselves on one TCP connection (our codec, no wasm, no
   * libusb, no transport host), IN data written straight into the slot's
   * buffer as the usbip transport does.
   */
  async usbip() {
    const connection = await ImportedConnection.open(connectTcp, parseServerAddress((workerData as Options).server!), '1-1');
    const run = async (s: UrbSubmission): Promise<TransferCompletion> => {
      const o = await connection.submit(s).outcome;
      return { status: transferStatusOf(o.status), data: o.data, bytesWritten: o.actualLength };
    };
    const IN = 0x200;
    return {
      controlIn: (setup, into) => run({ in: true, endpoint: 0, transferFlags: IN, length: setup.wLength, interval: 0, setup: encodeSetupPacket(setup), into }),
      controlOut: (setup) => run({ in: false, endpoint: 0, transferFlags: 0, length: 0, interval: 0, setup: encodeSetupPacket(setup) }),
      bulkOut: (endpoint, data) => run({ in: false, endpoint: endpoint & 0x0f, transferFlags: 0, length: data.length, interval: 0, data }),
      bulkIn: (endpoint, length, into) => run({ in: true, endpoint: endpoint & 0x0f, transferFlags: IN, length, interval: 0, into }),
    };
  },
};

const EP_OUT = 0x01;
const EP_IN = 0x81;
const now = () => performance.now();

interface Options {
  mode: 'cold_start' | 'datapath';
  transport: string;
  cases: string[];
  ms: number;
  warmup: number;
  /** performance.timeOrigin of the parent when it created this worker (cold start). */
  spawnedAt?: number;
  /** The usbip target: the usbip-serve to reach, host:port. */
  server?: string;
}

function report(name: string, size: number, inflight: number, ops: number, bytes: number, ms: number): void {
  const s = ms / 1000;
  emit(`bench=${name} size=${size} inflight=${inflight} ops=${ops} bytes=${bytes} seconds=${s.toFixed(6)} ` +
    `per_s=${(ops / s).toFixed(1)} us=${((ms * 1000) / ops).toFixed(4)} MBps=${(bytes / s / 1e6).toFixed(2)}`);
}

function emit(line: string): void {
  parentPort!.postMessage(line);
}

function fail(what: string, r?: TransferCompletion): never {
  throw new Error(`${what}: status ${r?.status}, ${r?.data?.length ?? r?.bytesWritten} bytes`);
}

/** The round trip's number in the first 4 bytes (little-endian), as datapath.c does. */
function stamp(buf: Uint8Array, n: number): void {
  buf[0] = n;
  if (buf.length >= 4) {
    buf[1] = n >>> 8;
    buf[2] = n >>> 16;
    buf[3] = n >>> 24;
  }
}

function stampOk(buf: Uint8Array | undefined, size: number, n: number): boolean {
  if (!buf || buf.length !== size) return false;
  if (size >= 4) return buf[0] === (n & 0xff) && buf[1] === ((n >>> 8) & 0xff) && buf[2] === ((n >>> 16) & 0xff) && buf[3] === n >>> 24;
  return size === 0 || buf[0] === (n & 0xff);
}

async function control(t: Target, o: Options): Promise<void> {
  const setup: SetupPacket = { bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0100, wIndex: 0, wLength: 18 };
  const into = new Uint8Array(18);
  let end = now() + o.warmup;
  let t0 = 0;
  let t1 = 0;
  let ops = 0;
  for (let timed = 0; timed < 2; timed++) {
    t0 = now();
    for (ops = 0; ; ops++) {
      const r = await t.controlIn(setup, into);
      if (r.status !== TransferStatus.COMPLETED || r.data?.length !== 18 || r.data[1] !== 1) fail('GET_DESCRIPTOR', r);
      if ((ops & 15) === 0 && now() >= end) break;
    }
    t1 = now();
    end = t1 + o.ms;
  }
  report('control', 18, 1, ops + 1, 18 * (ops + 1), t1 - t0);
}

async function sync(t: Target, o: Options, size: number): Promise<void> {
  const out = new Uint8Array(size).map((_, i) => i);
  const into = new Uint8Array(size);
  let end = now() + o.warmup;
  let t0 = 0;
  let t1 = 0;
  let ops = 0;
  for (let timed = 0; timed < 2; timed++) {
    t0 = now();
    for (ops = 0; ; ops++) {
      stamp(out, ops);
      const w = await t.bulkOut(EP_OUT, out);
      if (w.status !== TransferStatus.COMPLETED || w.bytesWritten !== size) fail('bulk OUT', w);
      const r = await t.bulkIn(EP_IN, size, into);
      if (r.status !== TransferStatus.COMPLETED || !stampOk(r.data, size, ops)) fail('bulk IN', r);
      if (now() >= end) break;
    }
    t1 = now();
    end = t1 + o.ms;
  }
  report('sync', size, 1, ops + 1, 2 * size * (ops + 1), t1 - t0);
}

/** `inflight` chains, each one round trip (or one IN) at a time: the async API's slots. */
async function async(t: Target, o: Options, size: number, inflight: number, inOnly: boolean): Promise<void> {
  if (inOnly) {
    const r = await t.controlOut({ bmRequestType: 0x40, bRequest: LoopbackRequest.IN_SOURCE, wValue: 1, wIndex: EP_IN, wLength: 0 });
    if (r.status !== TransferStatus.COMPLETED) fail('IN_SOURCE', r);
  }
  let ops = 0;
  let end = 0;
  let last = 0;
  let seq = 0;
  const slot = async (out: Uint8Array): Promise<void> => {
    const into = new Uint8Array(size);
    for (;;) {
      if (inOnly) {
        const r = await t.bulkIn(EP_IN, size, into);
        if (r.status !== TransferStatus.COMPLETED || r.data?.length !== size || r.data[1] !== 1
          || r.data[size - 1] !== ((size - 1) & 0xff)) fail('streaming IN', r);
      } else {
        const mine = seq++;
        stamp(out, mine);
        const w = await t.bulkOut(EP_OUT, out);
        if (w.status !== TransferStatus.COMPLETED || w.bytesWritten !== size) fail('async OUT', w);
        const r = await t.bulkIn(EP_IN, size, into);
        if (r.status !== TransferStatus.COMPLETED || !stampOk(r.data, size, mine)) fail('async IN', r);
      }
      ops++;
      last = now();
      if (last >= end) return;
    }
  };
  const buffers = Array.from({ length: inflight }, () => new Uint8Array(size).map((_, i) => i));
  let t0 = 0;
  for (let timed = 0; timed < 2; timed++) {
    t0 = now();
    end = t0 + (timed ? o.ms : o.warmup);
    ops = 0;
    await Promise.all(buffers.map((b) => slot(b)));
  }
  if (inOnly) {
    await t.controlOut({ bmRequestType: 0x40, bRequest: LoopbackRequest.IN_SOURCE, wValue: 0, wIndex: EP_IN, wLength: 0 });
  }
  report(inOnly ? 'in' : 'async', size, inflight, ops, (inOnly ? 1 : 2) * size * ops, last - t0);
}

async function main(o: Options): Promise<void> {
  const make = targets[o.transport];
  if (!make) throw new Error(`no JS baseline for transport '${o.transport}'`);
  const target = await make();
  if (o.mode === 'cold_start') {
    emit(`bench=cold_start devices=1 ready_ms=${(performance.timeOrigin + now() - o.spawnedAt!).toFixed(3)}`);
    return;
  }
  for (const c of o.cases) {
    let m: RegExpExecArray | null;
    if (c === 'control') await control(target, o);
    else if ((m = /^sync:(\d+)$/.exec(c))) await sync(target, o, Number(m[1]));
    else if ((m = /^async:(\d+):(\d+)$/.exec(c))) await async(target, o, Number(m[1]), Number(m[2]), false);
    else if ((m = /^in:(\d+):(\d+)$/.exec(c))) await async(target, o, Number(m[1]), Number(m[2]), true);
    else throw new Error(`unknown case '${c}'`);
  }
}

main(workerData as Options).then(
  () => parentPort!.postMessage({ done: true }),
  (e) => parentPort!.postMessage({ error: String(e?.stack ?? e) }),
);
