/**
 * The loops of bench/c/datapath.c written directly in JS against a device
 * object, with no wasm and no libusb in between: the JS baseline every wasm
 * figure is compared with. It prints exactly the lines datapath.c prints,
 * so both are parsed alike. Environment-agnostic: bench/js/baseline.ts runs
 * it in a Node worker thread, bench/browser/baseline-worker.ts in a Web
 * Worker; targets.ts says how each device object is reached.
 *
 * Like the C loops, every in-flight slot owns its buffers and reuses them,
 * and IN data goes straight into them where the device's API allows it (the
 * sim transport's `into`, which the wasm path uses too; WebUSB has no such
 * thing and hands every IN transfer a fresh buffer, to the baseline as to
 * the wasm path).
 * @module
 */
import { LoopbackRequest } from '../../ts/sim/models/loopback.js';
import { TransferStatus } from '../../ts/usb/constants.js';
import type { SetupPacket, TransferCompletion } from '../../ts/transports/transport.js';

/** What the loops need from a device: what a JS program would call. */
export interface Target {
  /** `into`: the caller's buffer for the data, if the device can fill it in place. */
  controlIn(setup: SetupPacket, into: Uint8Array): Promise<TransferCompletion> | TransferCompletion;
  controlOut(setup: SetupPacket): Promise<TransferCompletion> | TransferCompletion;
  bulkOut(endpoint: number, data: Uint8Array): Promise<TransferCompletion> | TransferCompletion;
  bulkIn(endpoint: number, length: number, into: Uint8Array): Promise<TransferCompletion> | TransferCompletion;
}

/** How long each case runs. */
export interface LoopTiming {
  /** Timed part, ms. */
  ms: number;
  /** Untimed warm-up before it, ms. */
  warmup: number;
  /**
   * CPU time used so far, µs, where the environment can tell (Node:
   * process.cpuUsage()). Each line then also gives `cpu_us`, the CPU time
   * per op: unlike the wall time, it hardly moves when other processes
   * share the cores.
   */
  cpuNow?: () => number;
}

const EP_OUT = 0x01;
const EP_IN = 0x81;
const now = () => performance.now();

/** Run cases (`control`, `sync:SIZE`, `async:SIZE:N`, `in:SIZE:N`) one after the other; each prints one line. */
export async function runCases(target: Target, cases: string[], timing: LoopTiming, emit: (line: string) => void): Promise<void> {
  const cpu = timing.cpuNow;
  let cpuAtStart = 0;
  const report: Report = {
    timedPartStarts: () => {
      cpuAtStart = cpu?.() ?? 0;
    },
    done: (name, size, inflight, ops, bytes, ms) => {
      const s = ms / 1000;
      const cpuPerOp = cpu ? ` cpu_us=${((cpu() - cpuAtStart) / ops).toFixed(4)}` : '';
      emit(`bench=${name} size=${size} inflight=${inflight} ops=${ops} bytes=${bytes} seconds=${s.toFixed(6)} ` +
        `per_s=${(ops / s).toFixed(1)} us=${((ms * 1000) / ops).toFixed(4)} MBps=${(bytes / s / 1e6).toFixed(2)}${cpuPerOp}`);
    },
  };
  for (const c of cases) {
    let m: RegExpExecArray | null;
    if (c === 'control') await control(target, timing, report);
    else if ((m = /^sync:(\d+)$/.exec(c))) await sync(target, timing, Number(m[1]), report);
    else if ((m = /^async:(\d+):(\d+)$/.exec(c))) await async(target, timing, Number(m[1]), Number(m[2]), false, report);
    else if ((m = /^in:(\d+):(\d+)$/.exec(c))) await async(target, timing, Number(m[1]), Number(m[2]), true, report);
    else throw new Error(`unknown case '${c}'`);
  }
}

/** Where a loop says that its timed part starts, and what it measured. */
interface Report {
  timedPartStarts(): void;
  done(name: string, size: number, inflight: number, ops: number, bytes: number, ms: number): void;
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

/**
 * The two phases of a loop that runs one op at a time, as datapath.c's do:
 * `warmup` ms untimed, then `ms` ms timed.
 */
class Phases {
  private end: number;
  private phase = 0;
  private t0 = 0;
  private t1 = 0;

  constructor(private readonly o: LoopTiming, private readonly report: Report) {
    this.end = now() + o.warmup;
  }

  /** Start the next phase; false once both are done. */
  next(): boolean {
    const t = now();
    if (this.phase === 1) {
      this.end = t + this.o.ms;
      this.report.timedPartStarts();
    } else if (this.phase === 2) {
      this.t1 = t;
      return false;
    }
    this.phase++;
    this.t0 = now();
    return true;
  }

  /** The phase's time is up. */
  over(): boolean {
    return now() >= this.end;
  }

  /** How long the timed phase took, ms. */
  get timedMs(): number {
    return this.t1 - this.t0;
  }
}

async function control(t: Target, o: LoopTiming, report: Report): Promise<void> {
  const setup: SetupPacket = { bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0100, wIndex: 0, wLength: 18 };
  const into = new Uint8Array(18);
  const phases = new Phases(o, report);
  let ops = 0;
  while (phases.next()) {
    for (ops = 0; ; ops++) {
      const r = await t.controlIn(setup, into);
      if (r.status !== TransferStatus.COMPLETED || r.data?.length !== 18 || r.data[1] !== 1) fail('GET_DESCRIPTOR', r);
      if ((ops & 15) === 0 && phases.over()) break;
    }
  }
  report.done('control', 18, 1, ops + 1, 18 * (ops + 1), phases.timedMs);
}

async function sync(t: Target, o: LoopTiming, size: number, report: Report): Promise<void> {
  const out = new Uint8Array(size).map((_, i) => i);
  const into = new Uint8Array(size);
  const phases = new Phases(o, report);
  let ops = 0;
  while (phases.next()) {
    for (ops = 0; ; ops++) {
      stamp(out, ops);
      const w = await t.bulkOut(EP_OUT, out);
      if (w.status !== TransferStatus.COMPLETED || w.bytesWritten !== size) fail('bulk OUT', w);
      const r = await t.bulkIn(EP_IN, size, into);
      if (r.status !== TransferStatus.COMPLETED || !stampOk(r.data, size, ops)) fail('bulk IN', r);
      if (phases.over()) break;
    }
  }
  report.done('sync', size, 1, ops + 1, 2 * size * (ops + 1), phases.timedMs);
}

/** `inflight` chains, each one round trip (or one IN) at a time: the async API's slots. */
async function async(t: Target, o: LoopTiming, size: number, inflight: number, inOnly: boolean, report: Report): Promise<void> {
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
    if (timed) report.timedPartStarts();
    t0 = now();
    end = t0 + (timed ? o.ms : o.warmup);
    ops = 0;
    await Promise.all(buffers.map((b) => slot(b)));
  }
  if (inOnly) {
    await t.controlOut({ bmRequestType: 0x40, bRequest: LoopbackRequest.IN_SOURCE, wValue: 0, wIndex: EP_IN, wLength: 0 });
  }
  report.done(inOnly ? 'in' : 'async', size, inflight, ops, (inOnly ? 1 : 2) * size * ops, last - t0);
}
