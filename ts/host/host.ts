/**
 * The transport host: serves the C backend's requests from shared memory
 * and carries them out on a {@link Transport}.
 *
 * It runs on a thread whose event loop is free (the program's main runtime
 * thread, while the C program runs on a pthread). It never calls into wasm:
 * it only reads and writes the wasm memory and uses Atomics, so it could
 * live on any thread that has the memory.
 *
 * Hot path: a burst of requests is taken from the request stack in one
 * atomic exchange; transfers go to the transport at once and complete by a
 * push onto their context's completion stack; each context is woken once
 * per burst (one futex bump, and a notify only if a thread sleeps). Between
 * bursts the host spins while the program's threads are busy (see serve())
 * before it sleeps in Atomics.waitAsync.
 * @module
 */
import {
  LibusbError, RequestType, StandardRequest, TransferFlag, TransferStatus, TransferType,
  type LibusbErrorCode, type TransferStatusCode,
} from '../usb/constants.js';
import { parseConfiguration, type ParsedConfiguration } from '../usb/config-parse.js';
import {
  TransportError, errorCode, type DeviceStrings, type HotplugEvent, type RawDescriptors, type SetupPacket,
  type Transport, type TransportDevice, type TransferRequest, type TransferResult,
} from '../transports/transport.js';
import { enumerateDevice } from './enumerate.js';
import { encodeDeviceRecord } from './records.js';
import {
  CtxShared, HandleShared, HostState, IsoPacket, LW_CTX_NO_DISCOVERY, LW_HOTPLUG_ARRIVED, LW_HOTPLUG_LEFT,
  LW_HANDLE_NO_ISO, LW_MAGIC, LW_PROTOCOL_VERSION, LW_REQ_SIZE, Op, Req, Shared,
} from './protocol.js';

/** Options for {@link TransportHost}. */
export interface HostOptions {
  /**
   * Spin this many microseconds for the next request before sleeping.
   * Default: adaptive (see {@link TransportHost.serve}).
   */
  spinMicros?: number;
  /** Diagnostics (device enumeration failures and the like). */
  log?: (message: string) => void;
}

interface HostContext {
  ptr: number;
  discovery: boolean;
  queue: { kind: number; id: number; record?: Uint8Array }[];
}

class HostDevice {
  readonly handles = new Set<HostHandle>();
  readonly claims = new Map<number, HostHandle>();
  readonly alternates = new Map<number, number>();
  readonly inflight = new Set<InFlight>();
  openCount = 0;
  gone = false;
  private chain: Promise<unknown> = Promise.resolve();
  private parsed?: (ParsedConfiguration | undefined)[];

  constructor(
    readonly id: number,
    readonly td: TransportDevice,
    readonly descriptors: RawDescriptors,
    readonly strings: DeviceStrings,
    readonly record: Uint8Array,
  ) {}

  /** Control-plane operations on one device run one at a time. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  /** The active configuration, parsed (undefined when unconfigured or unparsable). */
  activeConfig(): ParsedConfiguration | undefined {
    if (!this.parsed) {
      this.parsed = this.descriptors.configurations.map((c) => {
        try {
          return parseConfiguration(c);
        } catch {
          return undefined;
        }
      });
    }
    const value = this.td.getConfiguration();
    return value ? this.parsed.find((c) => c?.value === value) : undefined;
  }
}

class HostHandle {
  readonly claimed = new Set<number>();
  constructor(readonly id: number, readonly dev: HostDevice, readonly shared: number) {}
}

class InFlight {
  settled = false;
  cancelRequested = false;
  constructor(
    readonly ptr: number,
    readonly seq: number,
    readonly ctx: number,
    readonly handle: HostHandle,
    readonly request: TransferRequest,
    readonly isIn: boolean,
    /** where IN data goes */
    readonly dest: number,
    readonly capacity: number,
    readonly iso: number,
    readonly isoLengths: Uint32Array | undefined,
  ) {}
}

const EMPTY = new Uint8Array(0);
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

export class TransportHost {
  readonly transport: Transport;
  private readonly options: HostOptions;
  private memory?: WebAssembly.Memory;
  private u8 = EMPTY;
  private u32 = new Uint32Array(0);
  private i32 = new Int32Array(0);
  private shared = 0;
  private running = false;
  private keepAlive?: ReturnType<typeof setInterval>;
  private unwatch?: () => void;

  private readonly devices = new Map<number, HostDevice>();
  private readonly byTransportDevice = new Map<TransportDevice, HostDevice | 'pending' | 'gone'>();
  private readonly handles = new Map<number, HostHandle>();
  private readonly contexts = new Map<number, HostContext>();
  private readonly inflight = new Map<number, InFlight>();
  private nextDeviceId = 1;
  private nextHandleId = 1;
  private ready: Promise<void> = Promise.resolve();
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

  constructor(transport: Transport, options: HostOptions = {}) {
    this.transport = transport;
    this.options = options;
  }

  /**
   * Attach to a program's shared block (called through
   * wasm/js/library_libusb_wasm.js). Returns 0 or a libusb error code.
   */
  attach(memory: WebAssembly.Memory, sharedPtr: number): number {
    if (this.running) return LibusbError.BUSY;
    this.memory = memory;
    this.shared = sharedPtr;
    this.refresh();
    const w = sharedPtr >> 2;
    if (this.u32[w + Shared.magic / 4] !== LW_MAGIC || this.u32[w + Shared.version / 4] !== LW_PROTOCOL_VERSION
      || this.u32[w + Shared.req_size / 4] !== LW_REQ_SIZE) {
      this.log('the program was built against a different libusb-wasm protocol version; rebuild it');
      return LibusbError.NOT_SUPPORTED;
    }
    this.unwatch = this.transport.watch((e) => this.onHotplug(e));
    this.ready = this.initialEnumeration();
    Atomics.store(this.u32, w + Shared.host_state / 4, HostState.ATTACHED);
    this.running = true;
    if (typeof setInterval === 'function') {
      // Atomics.waitAsync alone does not keep a Node event loop alive
      this.keepAlive = setInterval(() => {}, 1 << 30);
    }
    void this.serve();
    return 0;
  }

  /** Stop serving: requests fail from now on, and the transport is released. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    Atomics.store(this.u32, (this.shared + Shared.host_state) >> 2, HostState.GONE);
    Atomics.add(this.i32, (this.shared + Shared.doorbell) >> 2, 1);
    Atomics.notify(this.i32, (this.shared + Shared.doorbell) >> 2);
    this.unwatch?.();
    if (this.keepAlive) clearInterval(this.keepAlive);
    for (const h of [...this.handles.values()]) await this.closeHandle(h).catch(() => {});
    await this.transport.close?.();
  }

  /** How many libusb contexts have a thread blocked waiting for events (tests use it). */
  waitingContexts(): number {
    let n = 0;
    for (const c of this.contexts.values()) if (Atomics.load(this.u32, (c.ptr + CtxShared.sleepers) >> 2)) n++;
    return n;
  }

  // ---- memory --------------------------------------------------------------

  private refresh(): void {
    const buf = this.memory!.buffer;
    if (buf.byteLength !== this.u8.byteLength) {
      this.u8 = new Uint8Array(buf);
      this.u32 = new Uint32Array(buf);
      this.i32 = new Int32Array(buf);
    }
  }

  private field(ptr: number, offset: number): number {
    return this.u32[(ptr + offset) >> 2];
  }

  private log(message: string): void {
    (this.options.log ?? ((m: string) => console.error(m)))(`libusb-wasm host: ${message}`);
  }

  // ---- the serving loop ----------------------------------------------------

  /**
   * Serve requests until stopped. Between bursts the host sleeps on the
   * doorbell in Atomics.waitAsync, which costs the poster a notify and the
   * host tens of microseconds to wake; transport promises settle meanwhile.
   * Before it sleeps it spins, yielding to microtasks only, for a request or
   * a transfer completion, with the C side's rules
   * (wasm/backend/host_channel.c): only while the program's heartbeat moves,
   * SPIN_QUIET_MS after its last beat at most (for the first beat: halved
   * after each spin that missed, none after three), a grace of
   * SPIN_GRACE_MS every SPIN_PROBE-th wait, SPIN_MAX_MS in all. While it spins or serves it bumps its own
   * heartbeat, so the program's threads spin for it in turn, and a
   * completion reaches a thread that is still spinning: no notify, no
   * wake-up. With transfers in flight it spins SPIN_INFLIGHT_MS at most:
   * a transport that completes in a macrotask (a real device) is held up
   * by that much until the misses turn the spin off.
   */
  private async serve(): Promise<void> {
    const headIdx = (this.shared + Shared.req_head) >> 2;
    const bellIdx = (this.shared + Shared.doorbell) >> 2;
    const idleIdx = (this.shared + Shared.host_idle) >> 2;
    const fixedMs = this.options.spinMicros === undefined ? -1 : this.options.spinMicros / 1000;
    while (this.running) {
      if (this.drain()) {
        // let transport completions that are already resolving land
        await null;
        continue;
      }
      if (this.syncOps === 0 && fixedMs !== 0 && (await this.spinForWork(fixedMs))) continue;
      const seen = Atomics.load(this.i32, bellIdx);
      Atomics.store(this.i32, idleIdx, 1);
      if (Atomics.load(this.u32, headIdx) || !this.running) {
        Atomics.store(this.i32, idleIdx, 0);
        continue;
      }
      // bounded, like every wait: a wake-up that went astray costs WAIT_SLICE_MS at most
      const w = Atomics.waitAsync(this.i32, bellIdx, seen, WAIT_SLICE_MS);
      if (w.async) await w.value;
      Atomics.store(this.i32, idleIdx, 0);
    }
    this.drain(); // answer stragglers with errors
  }

  /**
   * Spin for a request or a completion while the program shows signs of
   * life (see serve()). True if one came.
   */
  private async spinForWork(fixedMs: number): Promise<boolean> {
    const headIdx = (this.shared + Shared.req_head) >> 2;
    const progBeatIdx = (this.shared + Shared.prog_beat) >> 2;
    const hostBeatIdx = (this.shared + Shared.host_beat) >> 2;
    const completed = this.completed;
    const start = performance.now();
    const patience = this.misses < 3 ? SPIN_QUIET_MS / (1 << this.misses) : 0;
    let quietMs = ++this.waits % SPIN_PROBE ? patience : SPIN_GRACE_MS;
    let limit = start + (this.inflight.size ? SPIN_INFLIGHT_MS : SPIN_MAX_MS);
    if (fixedMs > 0) {
      quietMs = Infinity;
      limit = start + fixedMs;
    }
    let beat = Atomics.load(this.u32, progBeatIdx);
    let lastBeat = start;
    while (this.running && !Atomics.load(this.u32, headIdx) && this.completed === completed) {
      await null;
      Atomics.add(this.u32, hostBeatIdx, 1);
      const now = performance.now();
      const b = Atomics.load(this.u32, progBeatIdx);
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
    let head = Atomics.exchange(this.u32, (this.shared + Shared.req_head) >> 2, 0);
    if (!head) return false;
    this.refresh();
    // the stack is newest-first: reverse it to keep each thread's order
    let prev = 0;
    while (head) {
      const next = this.u32[(head + Req.next) >> 2];
      this.u32[(head + Req.next) >> 2] = prev;
      prev = head;
      head = next;
    }
    this.draining = true;
    const hostBeatIdx = (this.shared + Shared.host_beat) >> 2;
    try {
      for (let p = prev; p;) {
        const next = this.u32[(p + Req.next) >> 2]; // read first: the request may complete now
        Atomics.add(this.u32, hostBeatIdx, 1); // we are serving: the program may spin for us
        this.dispatch(p);
        p = next;
      }
    } finally {
      this.draining = false;
      this.flushWakes();
    }
    return true;
  }

  private dispatch(ptr: number): void {
    const op = this.field(ptr, Req.op);
    if (!this.running) {
      if (op === Op.SUBMIT) this.completeTransfer(ptr, this.field(ptr, Req.ctx), TransferStatus.NO_DEVICE, 0);
      else this.reply(ptr, LibusbError.NO_DEVICE);
      return;
    }
    if (op === Op.SUBMIT) {
      this.submit(ptr);
      return;
    }
    if (op === Op.CANCEL) {
      this.reply(ptr, this.cancel(this.field(ptr, Req.arg0), this.field(ptr, Req.arg1)));
      return;
    }
    this.syncOps++;
    this.syncOp(ptr, op).then(
      (r) => {
        this.syncOps--;
        this.reply(ptr, r.status, r.actual);
      },
      (e) => {
        this.syncOps--;
        if (!(e instanceof TransportError)) this.log(`operation ${op} failed: ${e?.stack ?? e}`);
        this.reply(ptr, errorCode(e));
      },
    );
  }

  /** Answer a synchronous request and wake its thread. */
  private reply(ptr: number, status: number, actual?: number): void {
    this.refresh();
    this.i32[(ptr + Req.status) >> 2] = status;
    if (actual !== undefined) this.u32[(ptr + Req.actual) >> 2] = actual;
    Atomics.store(this.i32, (ptr + Req.done) >> 2, 1);
    Atomics.notify(this.i32, (ptr + Req.done) >> 2);
  }

  // ---- synchronous operations ----------------------------------------------

  private async syncOp(ptr: number, op: number): Promise<{ status: number; actual?: number }> {
    const arg0 = this.field(ptr, Req.arg0);
    const arg1 = this.field(ptr, Req.arg1);
    switch (op) {
      case Op.CTX_ATTACH:
        await this.ready;
        this.contexts.set(arg0, { ptr: arg0, discovery: !(arg1 & LW_CTX_NO_DISCOVERY), queue: [] });
        return { status: 0 };
      case Op.CTX_DETACH:
        this.contexts.delete(arg0);
        return { status: 0 };
      case Op.LIST_DEVICES:
        await this.ready;
        return this.listDevices(arg0, this.field(ptr, Req.buf), this.field(ptr, Req.len));
      case Op.NEXT_HOTPLUG:
        return this.nextHotplug(arg0, this.field(ptr, Req.buf), this.field(ptr, Req.len));
      case Op.GET_STRING:
        return this.getString(this.device(this.field(ptr, Req.dev)), arg0, this.field(ptr, Req.buf), this.field(ptr, Req.len));
      case Op.GET_CONFIGURATION:
        return { status: 0, actual: this.device(this.field(ptr, Req.dev)).td.getConfiguration() };
      case Op.OPEN: {
        const dev = this.device(this.field(ptr, Req.dev));
        const handle = await dev.serial(() => this.open(dev, arg0));
        return { status: 0, actual: handle.id };
      }
      default:
        break;
    }
    if (op === Op.CLOSE) {
      // a handle to a device that is gone still has to be cleaned up
      const h = this.handles.get(this.field(ptr, Req.handle));
      if (h) await h.dev.serial(() => this.closeHandle(h));
      return { status: 0 };
    }
    const h = this.handle(this.field(ptr, Req.handle));
    const dev = h.dev;
    switch (op) {
      case Op.SET_CONFIGURATION:
        await dev.serial(() => this.setConfiguration(h, arg0 | 0));
        return { status: 0 };
      case Op.CLAIM_INTERFACE:
        await dev.serial(() => this.claim(h, arg0));
        return { status: 0 };
      case Op.RELEASE_INTERFACE:
        await dev.serial(() => this.release(h, arg0));
        return { status: 0 };
      case Op.SET_ALTSETTING:
        await dev.serial(() => this.setAlternate(h, arg0, arg1));
        return { status: 0 };
      case Op.CLEAR_HALT:
        if (!this.endpointUsable(h, arg0)) throw new TransportError(LibusbError.NOT_FOUND, 'endpoint not in a claimed interface');
        await dev.serial(() => dev.td.clearHalt(arg0));
        return { status: 0 };
      case Op.RESET_DEVICE: {
        const outcome = await dev.serial(() => dev.td.reset());
        return { status: outcome === 'same' ? 0 : LibusbError.NOT_FOUND };
      }
      case Op.KERNEL_DRIVER_ACTIVE:
        if (!dev.td.kernelDriverActive) return { status: 0, actual: 0 };
        return { status: 0, actual: (await dev.serial(() => dev.td.kernelDriverActive!(arg0))) ? 1 : 0 };
      case Op.DETACH_KERNEL_DRIVER:
        if (!dev.td.detachKernelDriver) throw new TransportError(LibusbError.NOT_FOUND, 'no kernel drivers on this transport');
        await dev.serial(() => dev.td.detachKernelDriver!(arg0));
        return { status: 0 };
      case Op.ATTACH_KERNEL_DRIVER:
        if (!dev.td.attachKernelDriver) throw new TransportError(LibusbError.NOT_FOUND, 'no kernel drivers on this transport');
        if (dev.claims.has(arg0)) throw new TransportError(LibusbError.BUSY, 'interface is claimed');
        await dev.serial(() => dev.td.attachKernelDriver!(arg0));
        return { status: 0 };
      default:
        throw new TransportError(LibusbError.NOT_SUPPORTED, `unknown request ${op}`);
    }
  }

  private device(id: number): HostDevice {
    const dev = this.devices.get(id);
    if (!dev || dev.gone) throw new TransportError(LibusbError.NO_DEVICE, `device ${id} is gone`);
    return dev;
  }

  private handle(id: number): HostHandle {
    const h = this.handles.get(id);
    if (!h) throw new TransportError(LibusbError.NOT_FOUND, `no handle ${id}`);
    if (h.dev.gone) throw new TransportError(LibusbError.NO_DEVICE);
    return h;
  }

  private async open(dev: HostDevice, sharedPtr: number): Promise<HostHandle> {
    if (dev.gone) throw new TransportError(LibusbError.NO_DEVICE);
    if (dev.openCount === 0) await dev.td.open();
    dev.openCount++;
    const h = new HostHandle(this.nextHandleId++, dev, sharedPtr);
    this.handles.set(h.id, h);
    dev.handles.add(h);
    if (dev.td.supportsIsochronous === false) {
      this.refresh();
      Atomics.store(this.u32, (sharedPtr + HandleShared.flags) >> 2, LW_HANDLE_NO_ISO);
    }
    this.writeMasks(h);
    return h;
  }

  private async closeHandle(h: HostHandle): Promise<void> {
    if (!this.handles.delete(h.id)) return;
    const dev = h.dev;
    dev.handles.delete(h);
    // libusb drops transfers still in flight at close; never touch them again
    for (const rec of [...dev.inflight]) {
      if (rec.handle !== h) continue;
      this.settle(rec);
      dev.td.cancel?.(rec.request);
    }
    for (const iface of h.claimed) {
      dev.claims.delete(iface);
      if (!dev.gone) await dev.td.releaseInterface(iface).catch(() => {});
    }
    h.claimed.clear();
    dev.openCount--;
    if (dev.openCount === 0 && !dev.gone) await dev.td.close().catch(() => {});
  }

  private async setConfiguration(h: HostHandle, value: number): Promise<void> {
    const dev = h.dev;
    if (dev.claims.size) throw new TransportError(LibusbError.BUSY, 'interfaces are claimed');
    if (value !== -1 && value !== 0 && !dev.descriptors.configurations.some((c) => c[5] === value)) {
      throw new TransportError(LibusbError.NOT_FOUND, `no configuration ${value}`);
    }
    await dev.td.setConfiguration(value === -1 ? 0 : value);
    dev.alternates.clear();
    for (const other of dev.handles) this.writeMasks(other);
  }

  private async claim(h: HostHandle, iface: number): Promise<void> {
    const dev = h.dev;
    const config = dev.activeConfig();
    if (!config || !config.alternates.some((a) => a.interfaceNumber === iface)) {
      throw new TransportError(LibusbError.NOT_FOUND, `no interface ${iface} in the active configuration`);
    }
    const owner = dev.claims.get(iface);
    if (owner && owner !== h) throw new TransportError(LibusbError.BUSY, `interface ${iface} is claimed by another handle`);
    if (!owner) await dev.td.claimInterface(iface);
    dev.claims.set(iface, h);
    h.claimed.add(iface);
    this.writeMasks(h);
  }

  private async release(h: HostHandle, iface: number): Promise<void> {
    const dev = h.dev;
    if (dev.claims.get(iface) !== h) throw new TransportError(LibusbError.NOT_FOUND, `interface ${iface} is not claimed`);
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

  private async setAlternate(h: HostHandle, iface: number, alternate: number): Promise<void> {
    const dev = h.dev;
    if (dev.claims.get(iface) !== h) throw new TransportError(LibusbError.NOT_FOUND, `interface ${iface} is not claimed`);
    const config = dev.activeConfig();
    if (!config?.alternates.some((a) => a.interfaceNumber === iface && a.alternate === alternate)) {
      throw new TransportError(LibusbError.NOT_FOUND, `interface ${iface} has no alternate setting ${alternate}`);
    }
    await dev.td.setAlternateSetting(iface, alternate);
    dev.alternates.set(iface, alternate);
    this.writeMasks(h);
  }

  /** Publish which endpoints a handle may use (its claimed interfaces' current alternates). */
  private writeMasks(h: HostHandle): void {
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
    this.refresh();
    Atomics.store(this.u32, (h.shared + HandleShared.ep_in_mask) >> 2, inMask >>> 0);
    Atomics.store(this.u32, (h.shared + HandleShared.ep_out_mask) >> 2, outMask >>> 0);
  }

  private endpointUsable(h: HostHandle, endpoint: number): boolean {
    const mask = this.field(h.shared, endpoint & 0x80 ? HandleShared.ep_in_mask : HandleShared.ep_out_mask);
    return (mask & (1 << (endpoint & 0x0f))) !== 0;
  }

  private getString(dev: HostDevice, which: number, buf: number, len: number): { status: number; actual?: number } {
    const s = [dev.strings.manufacturer, dev.strings.product, dev.strings.serialNumber][which];
    if (which > 2) return { status: LibusbError.INVALID_PARAM };
    if (s === undefined) return { status: LibusbError.NOT_FOUND };
    const bytes = new TextEncoder().encode(s);
    if (len === 0) return { status: 0, actual: bytes.length + 1 };
    let n = Math.min(bytes.length, len - 1);
    while (n > 0 && n < bytes.length && (bytes[n] & 0xc0) === 0x80) n--; // whole characters only
    this.refresh();
    this.u8.set(bytes.subarray(0, n), buf);
    this.u8[buf + n] = 0;
    return { status: 0, actual: n + 1 };
  }

  // ---- device discovery and hotplug ----------------------------------------

  private async initialEnumeration(): Promise<void> {
    let list: TransportDevice[] = [];
    try {
      list = await this.transport.getDevices();
    } catch (e) {
      this.log(`listing devices failed: ${(e as Error)?.message ?? e}`);
    }
    await Promise.all(list.map((td) => this.addDevice(td)));
  }

  private onHotplug(event: HotplugEvent): void {
    if (event.type === 'connect') void this.ready.then(() => this.addDevice(event.device));
    else this.removeDevice(event.device);
  }

  private async addDevice(td: TransportDevice): Promise<void> {
    if (this.byTransportDevice.has(td)) return;
    this.byTransportDevice.set(td, 'pending');
    let enumerated;
    try {
      enumerated = await enumerateDevice(td);
    } catch (e) {
      if (this.byTransportDevice.get(td) === 'pending') this.byTransportDevice.delete(td);
      this.log(`skipping device at bus ${td.location.busNumber} address ${td.location.deviceAddress}: ${(e as Error)?.message ?? e}`);
      return;
    }
    if (this.byTransportDevice.get(td) !== 'pending') return; // left while we read it
    const id = this.nextDeviceId++;
    const record = encodeDeviceRecord(id, td.location, enumerated.descriptors);
    const dev = new HostDevice(id, td, enumerated.descriptors, enumerated.strings, record);
    this.devices.set(id, dev);
    this.byTransportDevice.set(td, dev);
    this.queueHotplug(LW_HOTPLUG_ARRIVED, id, record);
  }

  private removeDevice(td: TransportDevice): void {
    const dev = this.byTransportDevice.get(td);
    this.byTransportDevice.set(td, 'gone');
    if (!(dev instanceof HostDevice)) return;
    this.byTransportDevice.delete(td);
    dev.gone = true;
    this.devices.delete(dev.id);
    this.refresh();
    for (const h of dev.handles) Atomics.store(this.u32, (h.shared + HandleShared.gone) >> 2, 1);
    // end every transfer before libusb hears of the departure
    for (const rec of [...dev.inflight]) this.finish(rec, { status: TransferStatus.NO_DEVICE });
    this.queueHotplug(LW_HOTPLUG_LEFT, dev.id);
  }

  private queueHotplug(kind: number, id: number, record?: Uint8Array): void {
    this.refresh();
    for (const c of this.contexts.values()) {
      if (!c.discovery) continue;
      c.queue.push({ kind, id, record });
      Atomics.add(this.u32, (c.ptr + CtxShared.hotplug_pending) >> 2, 1);
      this.wakeContext(c.ptr);
    }
  }

  private presentDevices(): HostDevice[] {
    const list = [...this.devices.values()].filter((d) => !d.gone);
    const key = (d: HostDevice) => [d.td.location.busNumber, d.td.location.portNumbers.length, ...d.td.location.portNumbers];
    return list.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
        if ((ka[i] ?? -1) !== (kb[i] ?? -1)) return (ka[i] ?? -1) - (kb[i] ?? -1);
      }
      return 0;
    });
  }

  private listDevices(ctxPtr: number, buf: number, len: number): { status: number; actual: number } {
    const records = this.presentDevices().map((d) => d.record);
    const needed = 4 + records.reduce((n, r) => n + r.length, 0);
    if (needed > len) return { status: LibusbError.OVERFLOW, actual: needed };
    this.refresh();
    new DataView(this.u8.buffer).setUint32(buf, records.length, true);
    let off = buf + 4;
    for (const r of records) {
      this.u8.set(r, off);
      off += r.length;
    }
    // the list supersedes events queued before it
    const c = this.contexts.get(ctxPtr);
    if (c) {
      c.queue.length = 0;
      Atomics.store(this.u32, (ctxPtr + CtxShared.hotplug_pending) >> 2, 0);
    }
    return { status: 0, actual: needed };
  }

  private nextHotplug(ctxPtr: number, buf: number, len: number): { status: number; actual?: number } {
    const c = this.contexts.get(ctxPtr);
    const event = c?.queue[0];
    if (!c || !event) {
      if (c) Atomics.store(this.u32, (ctxPtr + CtxShared.hotplug_pending) >> 2, 0);
      return { status: LibusbError.NOT_FOUND };
    }
    const needed = 8 + (event.record?.length ?? 0);
    if (needed > len) return { status: LibusbError.OVERFLOW, actual: needed };
    this.refresh();
    const view = new DataView(this.u8.buffer);
    view.setUint32(buf, event.kind, true);
    view.setUint32(buf + 4, event.id, true);
    if (event.record) this.u8.set(event.record, buf + 8);
    c.queue.shift();
    Atomics.sub(this.u32, (ctxPtr + CtxShared.hotplug_pending) >> 2, 1);
    return { status: 0, actual: needed };
  }

  // ---- transfers -----------------------------------------------------------

  private submit(ptr: number): void {
    const u8 = this.u8;
    const ctx = this.field(ptr, Req.ctx);
    const h = this.handles.get(this.field(ptr, Req.handle));
    if (!h || h.dev.gone) {
      this.completeTransfer(ptr, ctx, TransferStatus.NO_DEVICE, 0);
      return;
    }
    const endpoint = this.field(ptr, Req.arg0);
    const type = this.field(ptr, Req.arg1) as TransferRequest['type'];
    const buf = this.field(ptr, Req.buf);
    const len = this.field(ptr, Req.len);
    const flags = this.field(ptr, Req.flags);
    const zlp = (flags & TransferFlag.ADD_ZERO_PACKET) !== 0;
    const timeout = this.field(ptr, Req.timeout);
    let request: TransferRequest;
    let isIn: boolean;
    let dest = buf;
    let capacity = len;
    let isoLengths: Uint32Array | undefined;
    const iso = this.field(ptr, Req.iso);

    if (type === TransferType.CONTROL) {
      if (len < 8) {
        this.completeTransfer(ptr, ctx, TransferStatus.ERROR, 0);
        return;
      }
      const setup: SetupPacket = {
        bmRequestType: u8[buf],
        bRequest: u8[buf + 1],
        wValue: u8[buf + 2] | (u8[buf + 3] << 8),
        wIndex: u8[buf + 4] | (u8[buf + 5] << 8),
        wLength: u8[buf + 6] | (u8[buf + 7] << 8),
      };
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
      if (type === TransferType.ISOCHRONOUS) {
        const n = this.field(ptr, Req.num_iso);
        isoLengths = new Uint32Array(n);
        let total = 0;
        for (let i = 0; i < n; i++) {
          isoLengths[i] = this.u32[(iso + i * IsoPacket.SIZE + IsoPacket.length) >> 2];
          total += isoLengths[i];
        }
        if (total > len) {
          this.log(`isochronous packet lengths (${total} bytes) exceed the buffer (${len} bytes)`);
          this.completeTransfer(ptr, ctx, TransferStatus.ERROR, 0);
          return;
        }
      }
      request = {
        type, endpoint, length: len, zeroLengthPacket: zlp, timeout, isoPacketLengths: isoLengths,
        data: isIn ? undefined : u8.subarray(buf, buf + len),
        into: isIn && !isoLengths ? u8.subarray(buf, buf + len) : undefined,
      };
    }

    const rec = new InFlight(ptr, this.field(ptr, Req.seq), ctx, h, request, isIn, dest, capacity, iso, isoLengths);
    this.inflight.set(ptr, rec);
    h.dev.inflight.add(rec);
    let result: TransferResult | Promise<TransferResult>;
    try {
      result = h.dev.td.transfer(request);
    } catch (e) {
      this.log(`transport threw on a transfer: ${(e as Error)?.message ?? e}`);
      result = { status: TransferStatus.ERROR };
    }
    if (typeof (result as Promise<TransferResult>).then === 'function') {
      (result as Promise<TransferResult>).then(
        (r) => this.finish(rec, r),
        (e) => {
          this.log(`transfer failed: ${(e as Error)?.message ?? e}`);
          this.finish(rec, { status: TransferStatus.ERROR });
        },
      );
    } else {
      this.finish(rec, result as TransferResult);
    }
  }

  /** Forget a transfer without completing it (it will never touch memory again). */
  private settle(rec: InFlight): void {
    rec.settled = true;
    this.inflight.delete(rec.ptr);
    rec.handle.dev.inflight.delete(rec);
  }

  /** A transfer's result arrived: copy IN data, complete it for libusb. */
  private finish(rec: InFlight, result: TransferResult): void {
    if (rec.settled) return; // cancelled and completed already: discard
    this.settle(rec);
    this.refresh();
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
            this.u8.set(p.data.subarray(0, n), off);
            if (p.data.length > want && st === TransferStatus.COMPLETED) st = TransferStatus.OVERFLOW;
          } else if (!rec.isIn) {
            n = Math.min(p.length ?? want, want);
          }
        }
        const d = rec.iso + i * IsoPacket.SIZE;
        this.u32[(d + IsoPacket.actual_length) >> 2] = n;
        this.u32[(d + IsoPacket.status) >> 2] = st;
        actual += n;
        off += want;
      }
    } else if (rec.isIn) {
      const data = result.data;
      if (data) {
        actual = Math.min(data.length, rec.capacity);
        // the transport may have written in place (request.into): nothing to copy
        if (data.buffer !== this.u8.buffer || data.byteOffset !== rec.dest) {
          this.u8.set(actual === data.length ? data : data.subarray(0, actual), rec.dest);
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
      for (const h of dev.handles) this.writeMasks(h);
    } else if (s.bRequest === StandardRequest.SET_CONFIGURATION) {
      dev.alternates.clear();
      for (const h of dev.handles) this.writeMasks(h);
    }
  }

  /** LW_OP_CANCEL: answer 0 if the transfer will complete as cancelled, NOT_FOUND if it is done. */
  private cancel(ptr: number, seq: number): LibusbErrorCode {
    const rec = this.inflight.get(ptr);
    if (!rec || rec.seq !== seq || rec.settled || rec.cancelRequested) return LibusbError.NOT_FOUND;
    rec.cancelRequested = true;
    const td = rec.handle.dev.td;
    if (!td.cancel || !td.cancel(rec.request)) {
      // the transport cannot stop it: complete now, discard the late result
      this.forceCancel(rec);
    } else {
      // the transport promised to settle it; make sure it does
      setTimeout(() => this.forceCancel(rec), CANCEL_GRACE_MS);
    }
    return LibusbError.SUCCESS;
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
    if (!this.contexts.has(ctxPtr)) return; // libusb_exit() already freed the context
    this.refresh();
    this.i32[(ptr + Req.status) >> 2] = status;
    this.u32[(ptr + Req.actual) >> 2] = actual;
    const headIdx = (ctxPtr + CtxShared.done_head) >> 2;
    let old: number;
    do {
      old = Atomics.load(this.u32, headIdx);
      this.u32[(ptr + Req.next) >> 2] = old;
    } while (Atomics.compareExchange(this.u32, headIdx, old, ptr) !== old);
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
    const wakeIdx = (ctxPtr + CtxShared.wake) >> 2;
    Atomics.add(this.i32, wakeIdx, 1);
    if (Atomics.load(this.i32, (ctxPtr + CtxShared.sleepers) >> 2)) Atomics.notify(this.i32, wakeIdx);
  }
}
