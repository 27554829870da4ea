/**
 * The loop that serves one program: take every posted request at once,
 * dispatch them, and wait for more.
 *
 * Hot path: a burst of requests is taken from the program's request stack
 * in one atomic exchange; transfers go to the transport at once and
 * complete by a push onto their context's completion stack; each context is
 * woken once per burst (one futex bump, and a notify only if a thread
 * sleeps). Between bursts the loop sleeps on the doorbell in
 * Atomics.waitAsync, which costs the poster a notify and the host tens of
 * microseconds to wake; transport promises settle meanwhile. Before it
 * sleeps it spins for a request or a completion, with the C side's rules
 * (wasm/backend/host_channel.c): only while the program's heartbeat moves,
 * SPIN_QUIET_MS after its last beat at most (for the first beat: halved
 * after each spin that missed, none after three), a grace of SPIN_GRACE_MS
 * every SPIN_PROBE-th wait, SPIN_MAX_MS in all. While it spins or serves it
 * bumps its own heartbeat, so the program's threads spin for it in turn,
 * and a completion reaches a thread that is still spinning: no notify, no
 * wake-up. With transfers in flight it spins in tasks rather than
 * microtasks: a transport that answers in a task (as Chrome's WebUSB does)
 * gets its turn, and the answer reaches a program still spinning for it
 * (bench/RESULTS.md). That spin lasts SPIN_INFLIGHT_MS at most, halved
 * after each one the transport did not answer within (a slow device, an IN
 * waiting for data costs next to nothing), whole again after an answer.
 * After FAIR_SLICE_MS of work in microtasks it gives the event loop a turn,
 * so that one busy program cannot starve the others, or a kill.
 *
 * The host spins longer for a first beat than the C side (SPIN_QUIET_MS
 * 0.025 against 0.01 ms): a host turn (a promise job) costs more than a C
 * loop iteration, so fewer of its probes fit in the same time.
 * @module
 */
import { LW_REQ_SIZE, LwReq, LwShared } from '../protocol.gen.js';
import type { ProgramChannel } from './channel.js';

/** Spinning for the next request (ms). */
const SPIN_QUIET_MS = 0.025;
const SPIN_GRACE_MS = 0.06;
const SPIN_MAX_MS = 0.2;
const SPIN_INFLIGHT_MS = 2;
/** An in-flight spin after many late answers: SPIN_INFLIGHT_MS / 2^MAX_LATE_HALVINGS. */
const MAX_LATE_HALVINGS = 8;
const SPIN_PROBE = 16;
/** The longest sleep without looking at the request stack. */
const WAIT_SLICE_MS = 100;
/** Longest run of work in microtasks before the host's event loop gets a turn. */
const FAIR_SLICE_MS = 4;
/** Most requests taken in one burst; more than that is a cycle in the request list. */
const MAX_BURST = 1 << 20;

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

/** What the loop asks of the rest of the program's service. */
export interface ServeTarget {
  /** Carry out one request. */
  dispatch(ptr: number): void;
  /** Synchronous requests still being carried out (no spinning meanwhile). */
  readonly pendingRequests: number;
  /** Transfers at the transport. */
  readonly transfersInFlight: number;
}

export class ServeLoop {
  /** Waits for a request so far (every SPIN_PROBE-th gets a grace spin). */
  private waits = 0;
  /** Spins in a row that ended without a request or a completion. */
  private misses = 0;
  /** In-flight spins in a row that ended before the transport answered. */
  private lateAnswers = 0;

  constructor(
    private readonly channel: ProgramChannel,
    private readonly target: ServeTarget,
    /** LIBUSB_WASM_SPIN_US-like fixed spin in µs; undefined: adaptive. */
    private readonly spinMicros: number | undefined,
  ) {}

  /** Serve until the program is let go (channel.running turns false). Never throws. */
  async run(): Promise<void> {
    const ch = this.channel;
    const headIdx = ch.sharedIndex(LwShared.req_head);
    const bellIdx = ch.sharedIndex(LwShared.doorbell);
    const idleIdx = ch.sharedIndex(LwShared.host_idle);
    const fixedMs = this.spinMicros === undefined ? -1 : this.spinMicros / 1000;
    let sliceStart = performance.now();
    while (ch.running) {
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
        if (this.target.pendingRequests === 0 && fixedMs !== 0 && (await this.spinForWork(fixedMs))) continue;
        const u32 = ch.mem.u32;
        const i32 = ch.mem.i32;
        const seen = Atomics.load(i32, bellIdx);
        Atomics.store(i32, idleIdx, 1);
        if (Atomics.load(u32, headIdx) || !ch.running) {
          Atomics.store(i32, idleIdx, 0);
          continue;
        }
        // bounded, like every wait: a wake-up that went astray costs WAIT_SLICE_MS at most
        const w = Atomics.waitAsync(i32, bellIdx, seen, WAIT_SLICE_MS);
        if (w.async) await w.value;
        Atomics.store(i32, idleIdx, 0);
        sliceStart = performance.now();
      } catch (e) {
        ch.log(`serving failed: ${(e as Error)?.stack ?? e}`);
        await nextMacrotask();
      }
    }
  }

  /** Wake the loop's wait at once (the program is being let go). */
  interrupt(): void {
    const ch = this.channel;
    const bell = ch.sharedIndex(LwShared.doorbell);
    Atomics.add(ch.mem.i32, bell, 1);
    Atomics.notify(ch.mem.i32, bell);
  }

  /**
   * Spin for a request or a completion while the program shows signs of
   * life (see the module's notes). True if one came.
   */
  private async spinForWork(fixedMs: number): Promise<boolean> {
    const ch = this.channel;
    const headIdx = ch.sharedIndex(LwShared.req_head);
    const progBeatIdx = ch.sharedIndex(LwShared.prog_beat);
    const hostBeatIdx = ch.sharedIndex(LwShared.host_beat);
    const u32 = ch.mem.u32;
    const completed = ch.completed;
    const start = performance.now();
    const patience = this.misses < 3 ? SPIN_QUIET_MS / (1 << this.misses) : 0;
    let quietMs = ++this.waits % SPIN_PROBE ? patience : SPIN_GRACE_MS;
    // a transport may answer in a task of its own (Chrome's WebUSB does),
    // which a spin in microtasks would hold up: with transfers in flight,
    // spin in tasks, whatever the program does (its heartbeat only tells
    // whether it will post soon; the answer comes from the transport)
    const inFlight = this.target.transfersInFlight > 0;
    // a transfer that does not come back within the spin (a device that
    // answers late, an IN that waits for data) halves the next such spin
    let limit = start + (inFlight ? SPIN_INFLIGHT_MS / (1 << this.lateAnswers) : SPIN_MAX_MS);
    if (inFlight) quietMs = Infinity;
    if (fixedMs > 0) {
      quietMs = Infinity;
      limit = start + fixedMs;
    }
    let beat = Atomics.load(u32, progBeatIdx);
    let lastBeat = start;
    while (ch.running && !Atomics.load(u32, headIdx) && ch.completed === completed) {
      if (inFlight) await nextMacrotask();
      else await null;
      Atomics.add(u32, hostBeatIdx, 1);
      const now = performance.now();
      const b = Atomics.load(u32, progBeatIdx);
      if (b !== beat) { // the program runs: full patience from now on
        beat = b;
        lastBeat = now;
        if (!inFlight) quietMs = SPIN_QUIET_MS; // in flight, the answer comes from the transport
      }
      if (now - lastBeat >= quietMs || now >= limit) {
        this.misses++;
        if (inFlight && now >= limit && this.lateAnswers < MAX_LATE_HALVINGS) this.lateAnswers++;
        return false;
      }
    }
    this.misses = 0;
    if (inFlight && ch.completed !== completed) this.lateAnswers = 0;
    return true;
  }

  /** Take every posted request and dispatch it. Returns false if there were none. */
  private drain(): boolean {
    const ch = this.channel;
    const m = ch.mem;
    let head = Atomics.exchange(m.u32, ch.sharedIndex(LwShared.req_head), 0);
    if (!head) return false;
    m.refresh();
    // the stack is newest-first: reverse it to keep each thread's order;
    // a request posted twice makes a cycle, and a forged link points anywhere
    const order: number[] = [];
    const seen = new Set<number>();
    while (head) {
      if (!m.valid(head, LW_REQ_SIZE, 4)) {
        ch.log(`a request at ${head} is outside its memory; the rest of this burst is dropped`);
        break;
      }
      if (seen.has(head) || order.length >= MAX_BURST) {
        ch.log('its request list has a cycle (a request posted twice); the rest of this burst is dropped');
        break;
      }
      seen.add(head);
      order.push(head);
      head = m.u32[(head + LwReq.next) >> 2];
    }
    ch.draining = true;
    const hostBeatIdx = ch.sharedIndex(LwShared.host_beat);
    try {
      for (let i = order.length - 1; i >= 0; i--) {
        Atomics.add(m.u32, hostBeatIdx, 1); // we are serving: the program may spin for us
        this.target.dispatch(order[i]);
      }
    } finally {
      ch.draining = false;
      ch.flushWakes();
    }
    return true;
  }
}
