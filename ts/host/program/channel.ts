/**
 * One program's end of the shared memory, as the host writes it: the
 * program-wide block (state, limits, budget), its libusb contexts
 * (completion stacks and wake-ups), its handle blocks, and the answers to
 * synchronous requests. Everything read from the program's memory is
 * untrusted (ProgramMemory checks every address); everything the host
 * writes goes through here.
 * @module
 */
import type { CaptureTap } from '../../usb/capture/tap.js';
import type { OpenHandle } from '../device.js';
import { ProgramMemory } from '../memory.js';
import type { Policy } from '../policy.js';
import {
  LW_HANDLE_NO_ISO, LW_HOST_GONE, LW_SHARED_SIZE, LW_SLEEP_SLOTS, LwCtxShared, LwHandleShared, LwReq, LwShared,
} from '../protocol.gen.js';
import type { HostServices } from '../services.js';

/** A hotplug event waiting for a context to read it (NEXT_HOTPLUG). */
export interface PendingHotplug {
  kind: number;
  deviceId: number;
  record?: Uint8Array;
}

/** One of the program's libusb contexts. */
export interface ProgramContext {
  /** Its struct lw_ctx_shared. */
  ptr: number;
  /** It lists devices and hears of hotplug (not LIBUSB_OPTION_NO_DEVICE_DISCOVERY). */
  discovery: boolean;
  hotplug: PendingHotplug[];
}

/**
 * Mark a program's host GONE and wake every thread of it that sleeps, so
 * that each request fails with NO_DEVICE and each transfer ends at once.
 * Both the host (when it lets a program go) and the program's own worker
 * (when its host died) call it.
 */
export function markHostGone(memory: WebAssembly.Memory, sharedPtr: number): void {
  const m = new ProgramMemory(memory);
  if (!m.valid(sharedPtr, LW_SHARED_SIZE, 64)) return;
  const state = (sharedPtr + LwShared.host_state) >> 2;
  Atomics.store(m.i32, state, LW_HOST_GONE);
  Atomics.notify(m.i32, state);
  for (let i = 0; i < LW_SLEEP_SLOTS; i++) {
    const word = Atomics.load(m.u32, ((sharedPtr + LwShared.sleeping_on) >> 2) + i);
    if (word && m.valid(word, 4, 4)) Atomics.notify(m.i32, word >> 2);
  }
}

export class ProgramChannel {
  /** Serving: requests are carried out. False once the program is let go. */
  running = false;
  /** Its libusb contexts, by their lw_ctx_shared address. */
  readonly contexts = new Map<number, ProgramContext>();
  /** Transfers completed so far (a spin watches it). */
  completed = 0;
  /** A burst of requests is being dispatched: wakes wait for its end. */
  draining = false;
  private readonly toWake: number[] = [];
  private flushQueued = false;

  constructor(
    readonly id: string,
    readonly mem: ProgramMemory,
    /** Its struct lw_shared. */
    readonly shared: number,
    readonly host: HostServices,
    readonly policy: Policy | undefined,
    /** Its capture, when the embedder records (TransportHostOptions.capture). */
    readonly capture?: CaptureTap,
  ) {}

  /** A 32-bit field of a request (the caller checked the request's bounds). */
  field(ptr: number, offset: number): number {
    return this.mem.field(ptr, offset);
  }

  /** One diagnostic line about this program. */
  log(message: string): void {
    this.host.log(`program ${this.id}: ${message}`);
  }

  /** A word of the shared block. */
  sharedIndex(offset: number): number {
    return (this.shared + offset) >> 2;
  }

  setState(state: number): void {
    const idx = this.sharedIndex(LwShared.host_state);
    Atomics.store(this.mem.u32, idx, state);
    Atomics.notify(this.mem.i32, idx);
  }

  /** Answer a synchronous request and wake its thread. */
  reply(ptr: number, status: number, actual?: number): void {
    const m = this.mem;
    m.refresh();
    m.i32[(ptr + LwReq.status) >> 2] = status;
    if (actual !== undefined) m.u32[(ptr + LwReq.actual) >> 2] = actual;
    Atomics.store(m.i32, (ptr + LwReq.done) >> 2, 1);
    Atomics.notify(m.i32, (ptr + LwReq.done) >> 2);
  }

  /**
   * Hand a finished transfer to its context: take its `done` word (unless
   * the program completed it itself first, see protocol.h) and push it on
   * the completion stack. The context is woken once for everything completed
   * in the same turn (a burst, or a run of transport promises settling).
   */
  complete(ptr: number, ctxPtr: number, status: number, actual: number): void {
    if (!this.running || !this.contexts.has(ctxPtr)) return; // libusb_exit() already freed the context
    const m = this.mem;
    m.refresh();
    if (Atomics.compareExchange(m.u32, (ptr + LwReq.done) >> 2, 0, 1) !== 0) return;
    m.i32[(ptr + LwReq.status) >> 2] = status;
    m.u32[(ptr + LwReq.actual) >> 2] = actual;
    const headIdx = (ctxPtr + LwCtxShared.done_head) >> 2;
    let old: number;
    do {
      old = Atomics.load(m.u32, headIdx);
      m.u32[(ptr + LwReq.next) >> 2] = old;
    } while (Atomics.compareExchange(m.u32, headIdx, old, ptr) !== old);
    this.completed++;
    if (!this.toWake.includes(ctxPtr)) this.toWake.push(ctxPtr);
    if (!this.draining && !this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushWakes);
    }
  }

  /** Wake every context that got completions since the last flush. */
  readonly flushWakes = (): void => {
    this.flushQueued = false;
    for (const ctxPtr of this.toWake) this.wakeContext(ctxPtr);
    this.toWake.length = 0;
  };

  wakeContext(ctxPtr: number): void {
    if (!this.running) return;
    const m = this.mem;
    const wakeIdx = (ctxPtr + LwCtxShared.wake) >> 2;
    Atomics.add(m.i32, wakeIdx, 1);
    if (Atomics.load(m.i32, (ctxPtr + LwCtxShared.sleepers) >> 2)) Atomics.notify(m.i32, wakeIdx);
  }

  /** How many contexts have a thread blocked waiting for events. */
  waitingContexts(): number {
    let n = 0;
    for (const c of this.contexts.values()) if (Atomics.load(this.mem.u32, (c.ptr + LwCtxShared.sleepers) >> 2)) n++;
    return n;
  }

  /** Count a transfer out of the program's budget (the C side keeps its own count from these). */
  retire(bytes: number): void {
    if (!this.running) return;
    Atomics.add(this.mem.u32, this.sharedIndex(LwShared.finished_transfers), 1);
    Atomics.add(this.mem.u32, this.sharedIndex(LwShared.finished_bytes), bytes >>> 0);
  }

  /** Publish which endpoints a handle may use (the program checks them before it submits). */
  writeEndpoints(h: OpenHandle): void {
    if (!this.running) return;
    this.mem.refresh();
    Atomics.store(this.mem.u32, (h.sharedBlock + LwHandleShared.ep_in_mask) >> 2, h.inMask);
    Atomics.store(this.mem.u32, (h.sharedBlock + LwHandleShared.ep_out_mask) >> 2, h.outMask);
  }

  /** The handle's device is gone for this program (unplugged, revoked). */
  writeHandleGone(h: OpenHandle): void {
    if (!this.running) return;
    this.mem.refresh();
    Atomics.store(this.mem.u32, (h.sharedBlock + LwHandleShared.gone) >> 2, 1);
  }

  /** The transport cannot do isochronous transfers on the handle's device. */
  writeNoIsochronous(h: OpenHandle): void {
    this.mem.refresh();
    Atomics.store(this.mem.u32, (h.sharedBlock + LwHandleShared.flags) >> 2, LW_HANDLE_NO_ISO);
  }
}
