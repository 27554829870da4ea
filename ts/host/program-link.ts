/**
 * One program served by the transport host: its wasm memory and shared
 * block, its libusb contexts, open handles and transfers in flight, its
 * policy, and the loop that serves its requests.
 *
 * Hot path: a burst of requests is taken from the program's request stack
 * in one atomic exchange; transfers go to the transport at once and
 * complete by a push onto their context's completion stack; each context is
 * woken once per burst (one futex bump, and a notify only if a thread
 * sleeps). Between bursts the link spins while the program's threads are
 * busy (see serve()) before it sleeps in Atomics.waitAsync.
 *
 * Everything read from the program's memory is untrusted (see
 * ProgramMemory): a forged or broken request fails with a libusb error and
 * can only hurt the program that sent it. Nothing here throws out of
 * serve(), and a program that posts requests without pause still lets the
 * host's event loop run (other programs, timers, a kill).
 * @module
 */
import {
  ErrorCode, RequestType, StandardRequest, TransferFlag, TransferStatus, TransferType,
  type LibusbErrorCode, type TransferStatusCode,
} from '../usb/constants.js';
import {
  TransportError, errorCode, type SetupPacket, type TransferRequest, type TransferCompletion,
} from '../transports/transport.js';
import type { AuditAction, AuditDevice } from './audit.js';
import { SharedDevice, OpenHandle } from './device.js';
import type { TransportHost } from './host.js';
import { ProgramMemory } from './memory.js';
import { Policy, type PolicyOptions } from './policy.js';
import type { DeviceFilter } from '../usb/filters.js';
import {
  CtxShared, HandleShared, HostState, IsoPacket, LW_CTX_NO_DISCOVERY, LW_CTX_SHARED_SIZE, LW_HANDLE_NO_ISO,
  LW_HANDLE_SHARED_SIZE, LW_HOTPLUG_ARRIVED, LW_HOTPLUG_LEFT, LW_MAGIC, LW_PROTOCOL_VERSION, LW_REQ_SIZE,
  LW_SHARED_SIZE, Op, Req, Shared,
} from './protocol.js';

/** Who a program is, and what it may do. */
export interface ProgramInfo {
  /** Unique among the programs one host serves (RunningProgram.id). */
  id: string;
  /**
   * Its policy. Absent: the program is trusted and sees what the transport
   * sees, as a native libusb program does.
   */
  policy?: PolicyOptions;
}

interface HostContext {
  ptr: number;
  discovery: boolean;
  queue: { kind: number; id: number; record?: Uint8Array }[];
}

export class InFlight {
  settled = false;
  cancelRequested = false;
  constructor(
    readonly link: ProgramLink,
    readonly ptr: number,
    readonly seq: number,
    readonly ctx: number,
    readonly handle: OpenHandle,
    readonly request: TransferRequest,
    /** bytes counted against the program's limit (the request's len) */
    readonly bytes: number,
    readonly isIn: boolean,
    /** where IN data goes */
    readonly dest: number,
    readonly capacity: number,
    readonly iso: number,
    readonly isoLengths: Uint32Array | undefined,
  ) {}
}

/** Spinning for the next request (ms): the C side's rules (wasm/backend/host_channel.c). */
const SPIN_QUIET_MS = 0.025;
const SPIN_GRACE_MS = 0.06;
const SPIN_MAX_MS = 0.2;
const SPIN_INFLIGHT_MS = 0.05;
const SPIN_PROBE = 16;
/** The longest sleep without looking at the request stack. */
const WAIT_SLICE_MS = 100;
/** How long a transport that said it can cancel gets to settle the transfer. */
const CANCEL_GRACE_MS = 1000;
/** How long a detach waits for the transport to release and close before it returns (it goes on after). */
const DETACH_WAIT_MS = 40;
/** Longest run of work in microtasks before the host's event loop gets a turn. */
const FAIR_SLICE_MS = 4;
/** Most requests taken in one burst; more than that is a cycle in the request list. */
const MAX_BURST = 1 << 20;
/** Most isochronous packets in one transfer (libusb's own limit is far lower in practice). */
const MAX_ISO_PACKETS = 1 << 16;

const KNOWN_OPS = new Set<number>(Object.values(Op));

const ACTIONS: Partial<Record<number, AuditAction>> = {
  [Op.OPEN]: 'open', [Op.CLOSE]: 'close', [Op.CLAIM_INTERFACE]: 'claim', [Op.RELEASE_INTERFACE]: 'release',
  [Op.RESET_DEVICE]: 'reset', [Op.SET_CONFIGURATION]: 'set_configuration', [Op.SET_ALTSETTING]: 'set_alternate',
  [Op.KERNEL_DRIVER_ACTIVE]: 'kernel_driver_active', [Op.DETACH_KERNEL_DRIVER]: 'detach_kernel_driver',
  [Op.ATTACH_KERNEL_DRIVER]: 'attach_kernel_driver',
};

/** A turn of the event loop (not a microtask): timers and messages run meanwhile. */
const nextMacrotask: () => Promise<void> = typeof setImmediate === 'function'
  ? () => new Promise((resolve) => setImmediate(resolve))
  : (() => {
    const channel = new MessageChannel();
    const queue: (() => void)[] = [];
    channel.port1.onmessage = () => queue.shift()?.();
    return () => new Promise<void>((resolve) => {
      queue.push(resolve);
      channel.port2.postMessage(0);
    });
  })();

/** Tell a program the host will not serve it (its libusb_init then fails at once, not after a timeout). */
export function refuseProgram(memory: WebAssembly.Memory, sharedPtr: number): void {
  const m = new ProgramMemory(memory);
  if (!m.valid(sharedPtr, LW_SHARED_SIZE, 4)) return;
  const idx = (sharedPtr + Shared.host_state) >> 2;
  Atomics.store(m.u32, idx, HostState.GONE);
  Atomics.notify(m.i32, idx);
}

export class ProgramLink {
  readonly id: string;
  readonly mem: ProgramMemory;
  readonly policy?: Policy;
  private readonly host: TransportHost;
  private readonly shared: number;
  private running = false;
  private readonly contexts = new Map<number, HostContext>();
  private readonly handles = new Map<number, OpenHandle>();
  private readonly inflight = new Map<number, InFlight>();
  private inflightBytes = 0;
  /** Devices this program has been shown (by a list or an arrival) and not told of their departure. */
  private readonly shown = new Set<number>();
  /** Devices it was ever shown: naming one that is gone gives NO_DEVICE, not NOT_FOUND. */
  private readonly everShown = new Set<number>();
  /** Contexts with completions not yet signalled (see completeTransfer). */
  private readonly toWake: number[] = [];
  private draining = false;
  private flushQueued = false;
  /** Synchronous requests being carried out. */
  private syncOps = 0;
  /** Waits for a request so far (every SPIN_PROBE-th gets a grace spin). */
  private waits = 0;
  /** Spins in a row that ended without a request or a completion. */
  private misses = 0;
  /** Transfers completed so far (a spin watches it). */
  private completed = 0;
  private stopped?: () => void;
  /** Resolves when serve() has returned. */
  private readonly served: Promise<void>;

  constructor(host: TransportHost, memory: WebAssembly.Memory, sharedPtr: number, info: ProgramInfo) {
    this.host = host;
    this.id = info.id;
    this.mem = new ProgramMemory(memory);
    this.shared = sharedPtr;
    this.policy = info.policy ? new Policy(info.policy) : undefined;
    this.served = new Promise((resolve) => (this.stopped = resolve));
  }

  /** Check the shared block and start serving. Returns 0 or a libusb error (the program is then told GONE). */
  start(spinMicros: number | undefined): number {
    const m = this.mem;
    if (!m.valid(this.shared, LW_SHARED_SIZE, 64)) {
      this.host.log(`program ${this.id}: its shared block ${this.shared} is not inside its memory`);
      return ErrorCode.INVALID_PARAM;
    }
    const w = this.shared >> 2;
    if (m.u32[w + Shared.magic / 4] !== LW_MAGIC || m.u32[w + Shared.version / 4] !== LW_PROTOCOL_VERSION
      || m.u32[w + Shared.req_size / 4] !== LW_REQ_SIZE) {
      this.host.log(`program ${this.id} was built against a different libusb-wasm protocol version; rebuild it`);
      this.setState(HostState.GONE);
      return ErrorCode.NOT_SUPPORTED;
    }
    Atomics.store(m.u32, w + Shared.limit_transfers / 4, this.policy?.maxTransfersInFlight ?? 0);
    Atomics.store(m.u32, w + Shared.limit_bytes / 4, this.policy?.maxBytesInFlight ?? 0);
    this.running = true;
    this.setState(HostState.ATTACHED);
    void this.serve(spinMicros).finally(() => this.stopped?.());
    return 0;
  }

  private setState(state: number): void {
    const idx = (this.shared + Shared.host_state) >> 2;
    Atomics.store(this.mem.u32, idx, state);
    Atomics.notify(this.mem.i32, idx);
  }

  /**
   * Forget the program (it was killed, or exited): its transfers end, its
   * claims are released and its handles closed, and its memory is never
   * touched again once this resolves.
   */
  async detach(): Promise<void> {
    if (!this.running) return;
    // transfers end first (a program still running sees them complete), then every request fails
    for (const rec of [...this.inflight.values()]) {
      this.finish(rec, { status: TransferStatus.NO_DEVICE });
      rec.handle.dev.td.cancel?.(rec.request);
    }
    this.flushWakes();
    this.running = false;
    this.setState(HostState.GONE);
    const bell = (this.shared + Shared.doorbell) >> 2;
    Atomics.add(this.mem.i32, bell, 1);
    Atomics.notify(this.mem.i32, bell); // ends the serve loop's wait at once
    this.contexts.clear();
    // Releasing and closing go through each device's queue of operations,
    // behind whatever the program started there: a new program's claim
    // queues behind them in turn. A device slow to answer must not hold up
    // the kill, so wait for that briefly only; `released` says when it is done.
    this.released = Promise.all([...this.handles.values()].map((h) => h.dev.serial(() => this.closeHandle(h)).catch(() => {})))
      .then(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.released, new Promise((r) => (timer = setTimeout(r, DETACH_WAIT_MS)))]);
    clearTimeout(timer);
    await this.served;
  }

  /** Resolves when a detached program's interfaces are released and its devices closed at the transport. */
  released: Promise<void> = Promise.resolve();

  /** How many of this program's contexts have a thread blocked waiting for events. */
  waitingContexts(): number {
    let n = 0;
    for (const c of this.contexts.values()) if (Atomics.load(this.mem.u32, (c.ptr + CtxShared.sleepers) >> 2)) n++;
    return n;
  }

  // ---- policy ----------------------------------------------------------------

  /** Whether the program may see the device. */
  sees(dev: SharedDevice): boolean {
    return !dev.gone && (!this.policy || this.policy.visible(dev.facts));
  }

  /** Grant more devices while the program runs: newly visible ones arrive as hotplug events. */
  grant(filter: DeviceFilter): void {
    if (!this.policy) return; // sees everything already
    this.policy.grant(filter);
    for (const dev of this.host.presentDevices()) {
      if (this.sees(dev) && !this.shown.has(dev.id)) this.deviceArrived(dev);
    }
  }

  /**
   * Take a grant back: devices no longer visible leave (a hotplug event),
   * their transfers end with NO_DEVICE, their claims are released and their
   * handles answer NO_DEVICE from now on.
   */
  async revoke(filter: DeviceFilter): Promise<void> {
    if (!this.policy || !this.policy.revoke(filter)) return;
    const work: Promise<unknown>[] = [];
    for (const dev of this.host.presentDevices()) {
      if (this.sees(dev) || !this.shown.has(dev.id)) continue;
      for (const h of this.handles.values()) {
        if (h.dev !== dev || h.revoked) continue;
        h.revoked = true;
        Atomics.store(this.mem.u32, (h.shared + HandleShared.gone) >> 2, 1);
        for (const rec of [...dev.inflight]) if (rec.handle === h) this.finish(rec, { status: TransferStatus.NO_DEVICE });
        work.push(dev.serial(() => this.releaseAll(h)).catch(() => {}));
      }
      this.deviceLeft(dev);
    }
    await Promise.all(work);
  }

  // ---- device events (from the host) -------------------------------------------

  deviceArrived(dev: SharedDevice): void {
    if (!this.running || !this.sees(dev)) return;
    this.show(dev);
    this.queueHotplug(LW_HOTPLUG_ARRIVED, dev.id, dev.record);
  }

  /** The device left (unplugged, or no longer granted). */
  deviceLeft(dev: SharedDevice): void {
    if (!this.running || !this.shown.delete(dev.id)) return;
    this.queueHotplug(LW_HOTPLUG_LEFT, dev.id);
  }

  private show(dev: SharedDevice): void {
    this.shown.add(dev.id);
    this.everShown.add(dev.id);
  }

  /** The device was unplugged: mark the program's handles gone. */
  handleGone(h: OpenHandle): void {
    if (this.running) Atomics.store(this.mem.u32, (h.shared + HandleShared.gone) >> 2, 1);
  }

  // ---- the serving loop ----------------------------------------------------

  /**
   * Serve requests until detached. Between bursts the link sleeps on the
   * doorbell in Atomics.waitAsync, which costs the poster a notify and the
   * host tens of microseconds to wake; transport promises settle meanwhile.
   * Before it sleeps it spins, yielding to microtasks only, for a request or
   * a transfer completion, with the C side's rules
   * (wasm/backend/host_channel.c): only while the program's heartbeat moves,
   * SPIN_QUIET_MS after its last beat at most (for the first beat: halved
   * after each spin that missed, none after three), a grace of
   * SPIN_GRACE_MS every SPIN_PROBE-th wait, SPIN_MAX_MS in all. While it
   * spins or serves it bumps its own heartbeat, so the program's threads
   * spin for it in turn, and a completion reaches a thread that is still
   * spinning: no notify, no wake-up. With transfers in flight it spins
   * SPIN_INFLIGHT_MS at most: a transport that completes in a macrotask (a
   * real device) is held up by that much until the misses turn the spin
   * off. After FAIR_SLICE_MS of work in microtasks it gives the event loop
   * a turn, so that one busy program cannot starve the others, or a kill.
   */
  private async serve(spinMicros: number | undefined): Promise<void> {
    const headIdx = (this.shared + Shared.req_head) >> 2;
    const bellIdx = (this.shared + Shared.doorbell) >> 2;
    const idleIdx = (this.shared + Shared.host_idle) >> 2;
    const fixedMs = spinMicros === undefined ? -1 : spinMicros / 1000;
    let sliceStart = performance.now();
    while (this.running) {
      try {
        if (performance.now() - sliceStart > FAIR_SLICE_MS) {
          await nextMacrotask();
          sliceStart = performance.now();
          continue;
        }
        if (this.drain()) {
          // let transport completions that are already resolving land
          await null;
          continue;
        }
        if (this.syncOps === 0 && fixedMs !== 0 && (await this.spinForWork(fixedMs))) continue;
        const u32 = this.mem.u32;
        const i32 = this.mem.i32;
        const seen = Atomics.load(i32, bellIdx);
        Atomics.store(i32, idleIdx, 1);
        if (Atomics.load(u32, headIdx) || !this.running) {
          Atomics.store(i32, idleIdx, 0);
          continue;
        }
        // bounded, like every wait: a wake-up that went astray costs WAIT_SLICE_MS at most
        const w = Atomics.waitAsync(i32, bellIdx, seen, WAIT_SLICE_MS);
        if (w.async) await w.value;
        Atomics.store(i32, idleIdx, 0);
        sliceStart = performance.now();
      } catch (e) {
        this.host.log(`program ${this.id}: serving failed: ${(e as Error)?.stack ?? e}`);
        await nextMacrotask();
      }
    }
  }

  /**
   * Spin for a request or a completion while the program shows signs of
   * life (see serve()). True if one came.
   */
  private async spinForWork(fixedMs: number): Promise<boolean> {
    const headIdx = (this.shared + Shared.req_head) >> 2;
    const progBeatIdx = (this.shared + Shared.prog_beat) >> 2;
    const hostBeatIdx = (this.shared + Shared.host_beat) >> 2;
    const u32 = this.mem.u32;
    const completed = this.completed;
    const start = performance.now();
    const patience = this.misses < 3 ? SPIN_QUIET_MS / (1 << this.misses) : 0;
    let quietMs = ++this.waits % SPIN_PROBE ? patience : SPIN_GRACE_MS;
    let limit = start + (this.inflight.size ? SPIN_INFLIGHT_MS : SPIN_MAX_MS);
    if (fixedMs > 0) {
      quietMs = Infinity;
      limit = start + fixedMs;
    }
    let beat = Atomics.load(u32, progBeatIdx);
    let lastBeat = start;
    while (this.running && !Atomics.load(u32, headIdx) && this.completed === completed) {
      await null;
      Atomics.add(u32, hostBeatIdx, 1);
      const now = performance.now();
      const b = Atomics.load(u32, progBeatIdx);
      if (b !== beat) { // the program runs: full patience from now on
        beat = b;
        lastBeat = now;
        quietMs = SPIN_QUIET_MS;
      }
      if (now - lastBeat >= quietMs || now >= limit) {
        this.misses++;
        return false;
      }
    }
    this.misses = 0;
    return true;
  }

  /** Take every posted request and dispatch it. Returns false if there were none. */
  private drain(): boolean {
    const m = this.mem;
    let head = Atomics.exchange(m.u32, (this.shared + Shared.req_head) >> 2, 0);
    if (!head) return false;
    m.refresh();
    // the stack is newest-first: reverse it to keep each thread's order;
    // a request posted twice makes a cycle, and a forged link points anywhere
    const order: number[] = [];
    const seen = new Set<number>();
    while (head) {
      if (!m.valid(head, LW_REQ_SIZE, 4)) {
        this.host.log(`program ${this.id}: a request at ${head} is outside its memory; the rest of this burst is dropped`);
        break;
      }
      if (seen.has(head) || order.length >= MAX_BURST) {
        this.host.log(`program ${this.id}: its request list has a cycle (a request posted twice); the rest of this burst is dropped`);
        break;
      }
      seen.add(head);
      order.push(head);
      head = m.u32[(head + Req.next) >> 2];
    }
    this.draining = true;
    const hostBeatIdx = (this.shared + Shared.host_beat) >> 2;
    try {
      for (let i = order.length - 1; i >= 0; i--) {
        Atomics.add(m.u32, hostBeatIdx, 1); // we are serving: the program may spin for us
        this.dispatch(order[i]);
      }
    } finally {
      this.draining = false;
      this.flushWakes();
    }
    return true;
  }

  private dispatch(ptr: number): void {
    const op = this.mem.field(ptr, Req.op);
    try {
      if (!this.running) {
        if (op === Op.SUBMIT) this.rejectTransfer(ptr, TransferStatus.NO_DEVICE);
        else this.reply(ptr, ErrorCode.NO_DEVICE);
        return;
      }
      if (op === Op.SUBMIT) {
        this.submit(ptr);
        return;
      }
      if (op === Op.CANCEL) {
        this.reply(ptr, this.cancel(this.mem.field(ptr, Req.arg0), this.mem.field(ptr, Req.arg1)));
        return;
      }
    } catch (e) {
      this.host.log(`program ${this.id}: request ${op} failed: ${(e as Error)?.stack ?? e}`);
      if (op !== Op.SUBMIT) this.reply(ptr, ErrorCode.OTHER);
      return;
    }
    const action = ACTIONS[op];
    const audit = action ? this.auditTarget(ptr, op) : undefined;
    this.syncOps++;
    let op$: Promise<{ status: number; actual?: number }>;
    try {
      op$ = this.syncOp(ptr, op);
    } catch (e) {
      op$ = Promise.reject(e);
    }
    op$.then(
      (r) => {
        this.syncOps--;
        if (action) this.host.audit(this.id, action, audit!, r.status);
        this.reply(ptr, r.status, r.actual);
      },
      (e) => {
        this.syncOps--;
        if (!(e instanceof TransportError)) this.host.log(`program ${this.id}: operation ${op} failed: ${e?.stack ?? e}`);
        if (action) this.host.audit(this.id, action, audit!, errorCode(e));
        this.reply(ptr, errorCode(e));
      },
    );
  }

  /** The device and words an audited request is about (read before it runs: a close forgets the handle). */
  private auditTarget(ptr: number, op: number): { device?: AuditDevice; detail: string } {
    const arg0 = this.mem.field(ptr, Req.arg0);
    const arg1 = this.mem.field(ptr, Req.arg1);
    let dev: SharedDevice | undefined;
    if (op === Op.OPEN) dev = this.host.devices.get(this.mem.field(ptr, Req.dev));
    else dev = this.handles.get(this.mem.field(ptr, Req.handle))?.dev;
    let detail = '';
    if (op === Op.OPEN) detail = `device ${this.mem.field(ptr, Req.dev)}`;
    else if (op === Op.SET_CONFIGURATION) detail = `configuration ${arg0 | 0}`;
    else if (op === Op.SET_ALTSETTING) detail = `interface ${arg0} alternate ${arg1}`;
    else if (op !== Op.CLOSE && op !== Op.RESET_DEVICE) detail = `interface ${arg0}`;
    return { device: dev?.audit, detail };
  }

  /** Answer a synchronous request and wake its thread. */
  private reply(ptr: number, status: number, actual?: number): void {
    if (!this.running && status !== ErrorCode.NO_DEVICE) status = ErrorCode.NO_DEVICE;
    const m = this.mem;
    m.refresh();
    m.i32[(ptr + Req.status) >> 2] = status;
    if (actual !== undefined) m.u32[(ptr + Req.actual) >> 2] = actual;
    Atomics.store(m.i32, (ptr + Req.done) >> 2, 1);
    Atomics.notify(m.i32, (ptr + Req.done) >> 2);
  }

  // ---- synchronous operations ----------------------------------------------

  private checkBuffer(buf: number, len: number): void {
    if (!this.mem.valid(buf, len)) throw new TransportError(ErrorCode.INVALID_PARAM, `buffer ${buf}+${len} is outside the program's memory`);
  }

  private async syncOp(ptr: number, op: number): Promise<{ status: number; actual?: number }> {
    if (!KNOWN_OPS.has(op)) throw new TransportError(ErrorCode.NOT_SUPPORTED, `unknown request ${op}`);
    const m = this.mem;
    const arg0 = m.field(ptr, Req.arg0);
    const arg1 = m.field(ptr, Req.arg1);
    const buf = m.field(ptr, Req.buf);
    const len = m.field(ptr, Req.len);
    switch (op) {
      case Op.CTX_ATTACH:
        if (!m.valid(arg0, LW_CTX_SHARED_SIZE, 4)) throw new TransportError(ErrorCode.INVALID_PARAM, 'bad context block');
        await this.host.ready;
        if (!this.running) throw new TransportError(ErrorCode.NO_DEVICE);
        this.contexts.set(arg0, { ptr: arg0, discovery: !(arg1 & LW_CTX_NO_DISCOVERY), queue: [] });
        return { status: 0 };
      case Op.CTX_DETACH:
        this.contexts.delete(arg0);
        return { status: 0 };
      case Op.LIST_DEVICES:
        this.checkBuffer(buf, len);
        await this.host.ready;
        return this.listDevices(arg0, buf, len);
      case Op.NEXT_HOTPLUG:
        this.checkBuffer(buf, len);
        return this.nextHotplug(arg0, buf, len);
      case Op.GET_STRING:
        this.checkBuffer(buf, len);
        return this.getString(this.device(m.field(ptr, Req.dev)), arg0, buf, len);
      case Op.GET_CONFIGURATION:
        return { status: 0, actual: this.device(m.field(ptr, Req.dev)).td.getConfiguration() };
      case Op.OPEN: {
        if (!m.valid(arg0, LW_HANDLE_SHARED_SIZE, 4)) throw new TransportError(ErrorCode.INVALID_PARAM, 'bad handle block');
        const dev = this.device(m.field(ptr, Req.dev));
        if (this.policy && !(await this.policy.mayOpen(dev.facts, this.id))) {
          throw new TransportError(ErrorCode.ACCESS, 'the embedding application denied opening the device');
        }
        const handle = await dev.serial(() => this.open(dev, arg0));
        return { status: 0, actual: handle.id };
      }
      default:
        break;
    }
    if (op === Op.CLOSE) {
      // a handle to a device that is gone still has to be cleaned up
      const h = this.handles.get(m.field(ptr, Req.handle));
      if (h) await h.dev.serial(() => this.closeHandle(h));
      return { status: 0 };
    }
    const h = this.handle(m.field(ptr, Req.handle));
    const dev = h.dev;
    /** Run on the device's queue, if the handle is still usable then. */
    const serial = <T>(fn: () => Promise<T>) => dev.serial(() => {
      this.usable(h);
      return fn();
    });
    switch (op) {
      case Op.SET_CONFIGURATION:
        await serial(() => this.setConfiguration(h, arg0 | 0));
        return { status: 0 };
      case Op.CLAIM_INTERFACE:
        this.checkClaimable(h, arg0);
        await serial(() => this.claim(h, arg0));
        return { status: 0 };
      case Op.RELEASE_INTERFACE:
        await serial(() => this.release(h, arg0));
        return { status: 0 };
      case Op.SET_ALTSETTING:
        await serial(() => this.setAlternate(h, arg0, arg1));
        return { status: 0 };
      case Op.CLEAR_HALT:
        if (!this.endpointUsable(h, arg0)) throw new TransportError(ErrorCode.NOT_FOUND, 'endpoint not in a claimed interface');
        await serial(() => dev.td.clearHalt(arg0));
        return { status: 0 };
      case Op.RESET_DEVICE: {
        const outcome = await serial(() => dev.td.reset());
        return { status: outcome === 'same' ? 0 : ErrorCode.NOT_FOUND };
      }
      case Op.KERNEL_DRIVER_ACTIVE:
        if (!dev.td.kernelDriverActive) return { status: 0, actual: 0 };
        return { status: 0, actual: (await serial(() => dev.td.kernelDriverActive!(arg0))) ? 1 : 0 };
      case Op.DETACH_KERNEL_DRIVER:
        this.checkClaimable(h, arg0);
        if (!dev.td.detachKernelDriver) throw new TransportError(ErrorCode.NOT_FOUND, 'no kernel drivers on this transport');
        await serial(() => dev.td.detachKernelDriver!(arg0));
        return { status: 0 };
      case Op.ATTACH_KERNEL_DRIVER:
        if (!dev.td.attachKernelDriver) throw new TransportError(ErrorCode.NOT_FOUND, 'no kernel drivers on this transport');
        if (dev.claims.has(arg0)) throw new TransportError(ErrorCode.BUSY, 'interface is claimed');
        await serial(() => dev.td.attachKernelDriver!(arg0));
        return { status: 0 };
      default:
        throw new TransportError(ErrorCode.NOT_SUPPORTED, `unknown request ${op}`);
    }
  }

  /**
   * A device by id: NOT_FOUND when this program cannot see it (outside its
   * grants, or no such device), NO_DEVICE when it saw it and it is gone.
   */
  private device(id: number): SharedDevice {
    const dev = this.host.devices.get(id);
    if (dev && !dev.gone && this.sees(dev)) return dev;
    if (this.everShown.has(id)) throw new TransportError(ErrorCode.NO_DEVICE, `device ${id} is gone`);
    throw new TransportError(ErrorCode.NOT_FOUND, `no device ${id}`);
  }

  private handle(id: number): OpenHandle {
    const h = this.handles.get(id);
    if (!h) throw new TransportError(ErrorCode.NOT_FOUND, `no handle ${id}`);
    this.usable(h);
    return h;
  }

  private usable(h: OpenHandle): void {
    if (h.closed || !this.running) throw new TransportError(ErrorCode.NO_DEVICE, 'the handle is closed');
    if (h.dev.gone || h.revoked) throw new TransportError(ErrorCode.NO_DEVICE);
  }

  /** The policy's blocked classes: no alternate setting of the interface may be of one. */
  private checkClaimable(h: OpenHandle, iface: number): void {
    if (!this.policy) return;
    const config = h.dev.td.getConfiguration();
    if (!this.policy.claimable(h.dev.facts, config, iface)) {
      throw new TransportError(ErrorCode.ACCESS, `interface ${iface} is of a class the policy blocks`);
    }
  }

  private async open(dev: SharedDevice, sharedPtr: number): Promise<OpenHandle> {
    if (dev.gone) throw new TransportError(ErrorCode.NO_DEVICE);
    if (!this.running) throw new TransportError(ErrorCode.NO_DEVICE);
    if (dev.openCount === 0) await dev.td.open();
    dev.openCount++;
    const h = new OpenHandle(this.host.nextHandleId++, dev, sharedPtr, this);
    this.handles.set(h.id, h);
    dev.handles.add(h);
    if (!this.running) { // killed while the transport opened it
      await this.closeHandle(h);
      throw new TransportError(ErrorCode.NO_DEVICE);
    }
    if (dev.td.supportsIsochronous === false) {
      this.mem.refresh();
      Atomics.store(this.mem.u32, (sharedPtr + HandleShared.flags) >> 2, LW_HANDLE_NO_ISO);
    }
    this.writeMasks(h);
    return h;
  }

  private async closeHandle(h: OpenHandle): Promise<void> {
    if (!this.handles.delete(h.id)) return;
    h.closed = true;
    const dev = h.dev;
    dev.handles.delete(h);
    // libusb drops transfers still in flight at close; never touch them again
    for (const rec of [...dev.inflight]) {
      if (rec.handle !== h) continue;
      this.settle(rec);
      dev.td.cancel?.(rec.request);
    }
    await this.releaseAll(h);
    dev.openCount--;
    if (dev.openCount === 0 && !dev.gone) await dev.td.close().catch(() => {});
  }

  /** Give up every interface a handle holds (close, kill, revoke). */
  private async releaseAll(h: OpenHandle): Promise<void> {
    const dev = h.dev;
    for (const iface of h.claimed) {
      if (dev.claims.get(iface) !== h) continue;
      dev.claims.delete(iface);
      dev.alternates.delete(iface);
      if (!dev.gone) await dev.td.releaseInterface(iface).catch(() => {});
    }
    h.claimed.clear();
    h.inMask = 0;
    h.outMask = 0;
  }

  private async setConfiguration(h: OpenHandle, value: number): Promise<void> {
    const dev = h.dev;
    if (dev.claims.size) throw new TransportError(ErrorCode.BUSY, 'interfaces are claimed');
    if (value !== -1 && value !== 0 && !dev.descriptors.configurations.some((c) => c[5] === value)) {
      throw new TransportError(ErrorCode.NOT_FOUND, `no configuration ${value}`);
    }
    await dev.td.setConfiguration(value === -1 ? 0 : value);
    dev.alternates.clear();
    for (const other of dev.handles) other.link.writeMasks(other);
  }

  private async claim(h: OpenHandle, iface: number): Promise<void> {
    const dev = h.dev;
    const config = dev.activeConfig();
    if (!config || !config.alternates.some((a) => a.interfaceNumber === iface)) {
      throw new TransportError(ErrorCode.NOT_FOUND, `no interface ${iface} in the active configuration`);
    }
    this.checkClaimable(h, iface); // the configuration may have changed since the request came
    const owner = dev.claims.get(iface);
    if (owner && owner !== h) throw new TransportError(ErrorCode.BUSY, `interface ${iface} is claimed by another handle`);
    if (!owner) await dev.td.claimInterface(iface);
    dev.claims.set(iface, h);
    h.claimed.add(iface);
    this.writeMasks(h);
  }

  private async release(h: OpenHandle, iface: number): Promise<void> {
    const dev = h.dev;
    if (dev.claims.get(iface) !== h) throw new TransportError(ErrorCode.NOT_FOUND, `interface ${iface} is not claimed`);
    // as libusb documents: releasing puts the interface back in alternate setting 0
    if (dev.alternates.get(iface)) {
      await dev.td.setAlternateSetting(iface, 0).catch(() => {});
      dev.alternates.delete(iface);
    }
    await dev.td.releaseInterface(iface);
    dev.claims.delete(iface);
    h.claimed.delete(iface);
    this.writeMasks(h);
  }

  private async setAlternate(h: OpenHandle, iface: number, alternate: number): Promise<void> {
    const dev = h.dev;
    if (dev.claims.get(iface) !== h) throw new TransportError(ErrorCode.NOT_FOUND, `interface ${iface} is not claimed`);
    const config = dev.activeConfig();
    if (!config?.alternates.some((a) => a.interfaceNumber === iface && a.alternate === alternate)) {
      throw new TransportError(ErrorCode.NOT_FOUND, `interface ${iface} has no alternate setting ${alternate}`);
    }
    await dev.td.setAlternateSetting(iface, alternate);
    dev.alternates.set(iface, alternate);
    this.writeMasks(h);
  }

  /** Publish which endpoints a handle may use (its claimed interfaces' current alternates). */
  writeMasks(h: OpenHandle): void {
    let inMask = 0;
    let outMask = 0;
    const config = h.dev.activeConfig();
    for (const iface of h.claimed) {
      const alt = h.dev.alternates.get(iface) ?? 0;
      const a = config?.alternates.find((x) => x.interfaceNumber === iface && x.alternate === alt);
      for (const ep of a?.endpoints ?? []) {
        if (ep.address & 0x80) inMask |= 1 << (ep.address & 0x0f);
        else outMask |= 1 << (ep.address & 0x0f);
      }
    }
    h.inMask = inMask >>> 0;
    h.outMask = outMask >>> 0;
    if (!this.running) return;
    this.mem.refresh();
    Atomics.store(this.mem.u32, (h.shared + HandleShared.ep_in_mask) >> 2, h.inMask);
    Atomics.store(this.mem.u32, (h.shared + HandleShared.ep_out_mask) >> 2, h.outMask);
  }

  /** From the host's own copy: the program could have written anything into its handle block. */
  private endpointUsable(h: OpenHandle, endpoint: number): boolean {
    const mask = endpoint & 0x80 ? h.inMask : h.outMask;
    return (mask & (1 << (endpoint & 0x0f))) !== 0;
  }

  private getString(dev: SharedDevice, which: number, buf: number, len: number): { status: number; actual?: number } {
    const s = [dev.strings.manufacturer, dev.strings.product, dev.strings.serialNumber][which];
    if (which > 2) return { status: ErrorCode.INVALID_PARAM };
    if (s === undefined) return { status: ErrorCode.NOT_FOUND };
    const bytes = new TextEncoder().encode(s);
    if (len === 0) return { status: 0, actual: bytes.length + 1 };
    let n = Math.min(bytes.length, len - 1);
    while (n > 0 && n < bytes.length && (bytes[n] & 0xc0) === 0x80) n--; // whole characters only
    this.mem.refresh();
    this.mem.u8.set(bytes.subarray(0, n), buf);
    this.mem.u8[buf + n] = 0;
    return { status: 0, actual: n + 1 };
  }

  // ---- device lists and hotplug --------------------------------------------

  private queueHotplug(kind: number, id: number, record?: Uint8Array): void {
    this.mem.refresh();
    for (const c of this.contexts.values()) {
      if (!c.discovery) continue;
      c.queue.push({ kind, id, record });
      Atomics.add(this.mem.u32, (c.ptr + CtxShared.hotplug_pending) >> 2, 1);
      this.wakeContext(c.ptr);
    }
  }

  private listDevices(ctxPtr: number, buf: number, len: number): { status: number; actual: number } {
    const visible = this.host.presentDevices().filter((d) => this.sees(d));
    const records = visible.map((d) => d.record);
    const needed = 4 + records.reduce((n, r) => n + r.length, 0);
    if (needed > len) return { status: ErrorCode.OVERFLOW, actual: needed };
    for (const d of visible) this.show(d);
    const m = this.mem;
    m.refresh();
    new DataView(m.u8.buffer).setUint32(buf, records.length, true);
    let off = buf + 4;
    for (const r of records) {
      m.u8.set(r, off);
      off += r.length;
    }
    // the list supersedes events queued before it
    const c = this.contexts.get(ctxPtr);
    if (c) {
      c.queue.length = 0;
      Atomics.store(m.u32, (ctxPtr + CtxShared.hotplug_pending) >> 2, 0);
    }
    return { status: 0, actual: needed };
  }

  private nextHotplug(ctxPtr: number, buf: number, len: number): { status: number; actual?: number } {
    const c = this.contexts.get(ctxPtr);
    const m = this.mem;
    const event = c?.queue[0];
    if (!c || !event) {
      if (c) Atomics.store(m.u32, (ctxPtr + CtxShared.hotplug_pending) >> 2, 0);
      return { status: ErrorCode.NOT_FOUND };
    }
    const needed = 8 + (event.record?.length ?? 0);
    if (needed > len) return { status: ErrorCode.OVERFLOW, actual: needed };
    m.refresh();
    const view = new DataView(m.u8.buffer);
    view.setUint32(buf, event.kind, true);
    view.setUint32(buf + 4, event.id, true);
    if (event.record) m.u8.set(event.record, buf + 8);
    c.queue.shift();
    Atomics.sub(m.u32, (ctxPtr + CtxShared.hotplug_pending) >> 2, 1);
    return { status: 0, actual: needed };
  }

  // ---- transfers -----------------------------------------------------------

  private submit(ptr: number): void {
    const m = this.mem;
    const u8 = m.u8;
    const ctx = m.field(ptr, Req.ctx);
    if (!this.contexts.has(ctx)) return; // nowhere to complete it: a forged request, or a context already gone
    const h = this.handles.get(m.field(ptr, Req.handle));
    if (!h || h.closed || h.dev.gone || h.revoked) {
      this.rejectTransfer(ptr, TransferStatus.NO_DEVICE);
      return;
    }
    const endpoint = m.field(ptr, Req.arg0) & 0xff;
    const type = m.field(ptr, Req.arg1) as TransferRequest['type'];
    const buf = m.field(ptr, Req.buf);
    const len = m.field(ptr, Req.len);
    const flags = m.field(ptr, Req.flags);
    const zlp = (flags & TransferFlag.ADD_ZERO_PACKET) !== 0;
    const timeout = m.field(ptr, Req.timeout);
    if (!m.valid(buf, len) || type > TransferType.INTERRUPT) {
      this.host.log(`program ${this.id}: a transfer with a buffer outside its memory, or of an unknown type`);
      this.rejectTransfer(ptr, TransferStatus.ERROR);
      return;
    }
    const policy = this.policy;
    if (policy && (this.inflight.size >= policy.maxTransfersInFlight || this.inflightBytes + len > policy.maxBytesInFlight)) {
      this.rejectTransfer(ptr, TransferStatus.ERROR); // past the limits: the C side refuses these itself (NO_MEM)
      return;
    }
    let request: TransferRequest;
    let isIn: boolean;
    let dest = buf;
    let capacity = len;
    let isoLengths: Uint32Array | undefined;
    const iso = m.field(ptr, Req.iso);

    if (type === TransferType.CONTROL) {
      if (len < 8) {
        this.rejectTransfer(ptr, TransferStatus.ERROR);
        return;
      }
      const setup: SetupPacket = {
        bmRequestType: u8[buf],
        bRequest: u8[buf + 1],
        wValue: u8[buf + 2] | (u8[buf + 3] << 8),
        wIndex: u8[buf + 4] | (u8[buf + 5] << 8),
        wLength: u8[buf + 6] | (u8[buf + 7] << 8),
      };
      if (!this.controlAllowed(h, setup)) {
        this.rejectTransfer(ptr, TransferStatus.STALL);
        return;
      }
      const wLength = Math.min(setup.wLength, len - 8);
      isIn = (setup.bmRequestType & RequestType.DIR_IN) !== 0;
      dest = buf + 8;
      capacity = wLength;
      request = {
        type, endpoint: isIn ? 0x80 : 0x00, setup, length: wLength, zeroLengthPacket: false, timeout,
        data: isIn ? undefined : u8.subarray(buf + 8, buf + 8 + wLength),
        into: isIn ? u8.subarray(buf + 8, buf + 8 + wLength) : undefined,
      };
    } else {
      isIn = (endpoint & 0x80) !== 0;
      if (!this.endpointUsable(h, endpoint)) {
        this.host.log(`program ${this.id}: a transfer on endpoint 0x${endpoint.toString(16)}, not in a claimed interface`);
        this.rejectTransfer(ptr, TransferStatus.ERROR);
        return;
      }
      if (type === TransferType.ISOCHRONOUS) {
        const n = m.field(ptr, Req.num_iso);
        if (n > MAX_ISO_PACKETS || !m.valid(iso, n * IsoPacket.SIZE, 4)) {
          this.host.log(`program ${this.id}: isochronous packet descriptors outside its memory (${n} packets)`);
          this.rejectTransfer(ptr, TransferStatus.ERROR);
          return;
        }
        isoLengths = new Uint32Array(n);
        let total = 0;
        for (let i = 0; i < n; i++) {
          isoLengths[i] = m.u32[(iso + i * IsoPacket.SIZE + IsoPacket.length) >> 2];
          total += isoLengths[i];
        }
        if (total > len) {
          this.host.log(`isochronous packet lengths (${total} bytes) exceed the buffer (${len} bytes)`);
          this.rejectTransfer(ptr, TransferStatus.ERROR);
          return;
        }
      }
      request = {
        type, endpoint, length: len, zeroLengthPacket: zlp, timeout, isoPacketLengths: isoLengths,
        data: isIn ? undefined : u8.subarray(buf, buf + len),
        into: isIn && !isoLengths ? u8.subarray(buf, buf + len) : undefined,
      };
    }

    const rec = new InFlight(this, ptr, m.field(ptr, Req.seq), ctx, h, request, len, isIn, dest, capacity, iso, isoLengths);
    this.inflight.set(ptr, rec);
    this.inflightBytes += len;
    h.dev.inflight.add(rec);
    let result: TransferCompletion | Promise<TransferCompletion>;
    try {
      result = h.dev.td.transfer(request);
    } catch (e) {
      this.host.log(`transport threw on a transfer: ${(e as Error)?.message ?? e}`);
      result = { status: TransferStatus.ERROR };
    }
    if (typeof (result as Promise<TransferCompletion>).then === 'function') {
      (result as Promise<TransferCompletion>).then(
        (r) => this.finish(rec, r),
        (e) => {
          this.host.log(`transfer failed: ${(e as Error)?.message ?? e}`);
          this.finish(rec, { status: TransferStatus.ERROR });
        },
      );
    } else {
      this.finish(rec, result as TransferCompletion);
    }
  }

  /**
   * Under a policy, a control request addressed to an interface (or one of
   * its endpoints) of a blocked class is refused, as WebUSB does: a claim
   * refused must not be worked around with class requests.
   */
  private controlAllowed(h: OpenHandle, s: SetupPacket): boolean {
    if (!this.policy) return true;
    const recipient = s.bmRequestType & RequestType.RECIPIENT_MASK;
    let iface: number | undefined;
    if (recipient === RequestType.RECIPIENT_INTERFACE) iface = s.wIndex & 0xff;
    else if (recipient === RequestType.RECIPIENT_ENDPOINT) {
      const ep = s.wIndex & 0xff;
      const config = h.dev.activeConfig();
      iface = config?.alternates.find((a) => a.endpoints.some((e) => e.address === ep))?.interfaceNumber;
    }
    if (iface === undefined) return true;
    return this.policy.claimable(h.dev.facts, h.dev.td.getConfiguration(), iface);
  }

  /** Count a transfer out of the program's budget (the C side keeps its own count from these). */
  private retire(bytes: number): void {
    const m = this.mem;
    if (!this.running) return;
    Atomics.add(m.u32, (this.shared + Shared.finished_transfers) >> 2, 1);
    Atomics.add(m.u32, (this.shared + Shared.finished_bytes) >> 2, bytes >>> 0);
  }

  /** Complete a transfer that never reached the transport. */
  private rejectTransfer(ptr: number, status: number): void {
    this.retire(this.mem.field(ptr, Req.len));
    this.completeTransfer(ptr, this.mem.field(ptr, Req.ctx), status, 0);
  }

  /** Forget a transfer without completing it (it will never touch memory again). */
  private settle(rec: InFlight): void {
    rec.settled = true;
    this.inflight.delete(rec.ptr);
    this.inflightBytes -= rec.bytes;
    rec.handle.dev.inflight.delete(rec);
    this.retire(rec.bytes);
  }

  /** A transfer's result arrived: copy IN data, complete it for libusb. */
  finish(rec: InFlight, result: TransferCompletion): void {
    if (rec.settled) return; // cancelled and completed already: discard
    this.settle(rec);
    if (!this.running) return;
    const m = this.mem;
    m.refresh();
    let actual = 0;
    const status = result.status as TransferStatusCode;
    if (rec.isoLengths) {
      let off = rec.dest;
      const packets = result.isoPackets ?? [];
      for (let i = 0; i < rec.isoLengths.length; i++) {
        const want = rec.isoLengths[i];
        const p = packets[i];
        let n = 0;
        let st: number = p ? p.status : status === TransferStatus.COMPLETED ? TransferStatus.ERROR : status;
        if (p) {
          if (rec.isIn && p.data) {
            n = Math.min(p.data.length, want);
            m.u8.set(p.data.subarray(0, n), off);
            if (p.data.length > want && st === TransferStatus.COMPLETED) st = TransferStatus.OVERFLOW;
          } else if (!rec.isIn) {
            n = Math.min(p.length ?? want, want);
          }
        }
        const d = rec.iso + i * IsoPacket.SIZE;
        m.u32[(d + IsoPacket.actual_length) >> 2] = n;
        m.u32[(d + IsoPacket.status) >> 2] = st;
        actual += n;
        off += want;
      }
    } else if (rec.isIn) {
      const data = result.data;
      if (data) {
        actual = Math.min(data.length, rec.capacity);
        // the transport may have written in place (request.into): nothing to copy
        if (data.buffer !== m.u8.buffer || data.byteOffset !== rec.dest) {
          m.u8.set(actual === data.length ? data : data.subarray(0, actual), rec.dest);
        }
      }
    } else {
      actual = Math.min(result.bytesWritten ?? (status === TransferStatus.COMPLETED ? rec.capacity : 0), rec.capacity);
    }
    if (rec.request.type === TransferType.CONTROL && status === TransferStatus.COMPLETED) this.trackControl(rec);
    this.completeTransfer(rec.ptr, rec.ctx, status, actual);
  }

  /** Keep host state right when a program sends standard requests by hand. */
  private trackControl(rec: InFlight): void {
    const s = rec.request.setup!;
    if ((s.bmRequestType & RequestType.TYPE_MASK) !== RequestType.TYPE_STANDARD) return;
    const dev = rec.handle.dev;
    if (s.bRequest === StandardRequest.SET_INTERFACE && (s.bmRequestType & RequestType.RECIPIENT_MASK) === RequestType.RECIPIENT_INTERFACE) {
      dev.alternates.set(s.wIndex & 0xff, s.wValue & 0xff);
      for (const h of dev.handles) h.link.writeMasks(h);
    } else if (s.bRequest === StandardRequest.SET_CONFIGURATION) {
      dev.alternates.clear();
      for (const h of dev.handles) h.link.writeMasks(h);
    }
  }

  /** LW_OP_CANCEL: answer 0 if the transfer will complete as cancelled, NOT_FOUND if it is done. */
  private cancel(ptr: number, seq: number): LibusbErrorCode {
    const rec = this.inflight.get(ptr);
    if (!rec || rec.seq !== seq || rec.settled || rec.cancelRequested) return ErrorCode.NOT_FOUND;
    rec.cancelRequested = true;
    const td = rec.handle.dev.td;
    if (!td.cancel || !td.cancel(rec.request)) {
      // the transport cannot stop it: complete now, discard the late result
      this.forceCancel(rec);
    } else {
      // the transport promised to settle it; make sure it does
      setTimeout(() => this.forceCancel(rec), CANCEL_GRACE_MS);
    }
    return ErrorCode.SUCCESS;
  }

  private forceCancel(rec: InFlight): void {
    if (rec.settled) return;
    this.settle(rec);
    this.completeTransfer(rec.ptr, rec.ctx, TransferStatus.CANCELLED, 0);
  }

  /**
   * Hand a finished transfer to its context: push it on its completion
   * stack. The context is woken once for everything completed in the same
   * turn (a drain, or a run of transport promises settling), not per transfer.
   */
  private completeTransfer(ptr: number, ctxPtr: number, status: number, actual: number): void {
    if (!this.running || !this.contexts.has(ctxPtr)) return; // libusb_exit() already freed the context
    const m = this.mem;
    m.refresh();
    m.i32[(ptr + Req.status) >> 2] = status;
    m.u32[(ptr + Req.actual) >> 2] = actual;
    const headIdx = (ctxPtr + CtxShared.done_head) >> 2;
    let old: number;
    do {
      old = Atomics.load(m.u32, headIdx);
      m.u32[(ptr + Req.next) >> 2] = old;
    } while (Atomics.compareExchange(m.u32, headIdx, old, ptr) !== old);
    this.completed++;
    if (!this.toWake.includes(ctxPtr)) this.toWake.push(ctxPtr);
    if (!this.draining && !this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushWakes);
    }
  }

  /** Wake every context that got completions since the last flush. */
  private readonly flushWakes = (): void => {
    this.flushQueued = false;
    for (const ctxPtr of this.toWake) this.wakeContext(ctxPtr);
    this.toWake.length = 0;
  };

  private wakeContext(ctxPtr: number): void {
    if (!this.running) return;
    const m = this.mem;
    const wakeIdx = (ctxPtr + CtxShared.wake) >> 2;
    Atomics.add(m.i32, wakeIdx, 1);
    if (Atomics.load(m.i32, (ctxPtr + CtxShared.sleepers) >> 2)) Atomics.notify(m.i32, wakeIdx);
  }
}
