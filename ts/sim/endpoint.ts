/**
 * A simulated endpoint with the behaviour of real hardware: the host's
 * transfers wait (NAK) until the device has data or room, IN data travels
 * in max-packet-size packets so short packets, zero-length packets and
 * babble happen exactly where they would on a bus, and a halted endpoint
 * stalls every transfer until CLEAR_FEATURE(ENDPOINT_HALT).
 * @module
 */
import { TransferStatus, type TransferStatusCode } from '../usb/constants.js';
import type { EndpointKind } from './descriptors.js';
import type { IsoPacketCompletion, TransferRequest, TransferCompletion } from '../transports/transport.js';
import { giveAway, takeGiven } from './buffers.js';

/** What an OUT handler tells the endpoint. */
export type ReceiveOutcome =
  /** accepted (undefined or true) */
  | void | true
  /** not ready: NAK, retried after {@link SimEndpoint.ready} */
  | false
  /** protocol stall: the endpoint halts */
  | 'stall';

/** Handles OUT data. `data` is only valid during the call: copy what you keep. */
export type ReceiveHandler = (data: Uint8Array, ep: SimEndpoint) => ReceiveOutcome;

/** Produces the packets of one isochronous IN transfer. */
export type IsoInHandler = (lengths: ArrayLike<number>, ep: SimEndpoint) => IsoPacketCompletion[];
/**
 * Produces IN data on demand (a device that always has data ready, such as a
 * streaming sensor). Called when a host transfer waits and nothing is
 * queued; `room` is what the transfer can still take. The endpoint keeps the
 * returned bytes without copying them: return data that is never modified
 * afterwards. Return an empty array for "nothing now" (the transfer waits).
 */
export type InSource = (room: number, ep: SimEndpoint) => Uint8Array;
/** Consumes the packets of one isochronous OUT transfer. */
export type IsoOutHandler = (packets: Uint8Array[], ep: SimEndpoint) => IsoPacketCompletion[] | void;

interface Message {
  data: Uint8Array;
  offset: number;
  /** ends with a zero-length packet when its length is a multiple of the packet size */
  zlp: boolean;
  /** `data` is the endpoint's own copy, reusable once consumed... */
  owned?: boolean;
  /** ...unless views of it were handed out as transfer results */
  lent?: boolean;
}

/** Bytes of consumed IN messages an endpoint keeps for reuse. */
const POOL_MAX_BYTES = 8 * 1024 * 1024;

/** A host transfer on the endpoint, from its submission to its completion. */
class Pending {
  /** IN: the first bytes gathered, unless they go straight into request.into... */
  firstChunk: Uint8Array | undefined;
  /** ...and any more (a transfer that took several messages) */
  moreChunks: Uint8Array[] | undefined;
  received = 0;
  /** IN: the first chunk is a whole message buffer of the endpoint's own (see gathered()) */
  wholeMessage = false;
  /** The completion, when it came while the transfer was being submitted. */
  settled: TransferCompletion | undefined;
  /** Who waits for the completion, once submit() has returned. */
  waiter: ((result: TransferCompletion) => void) | undefined;

  constructor(readonly request: TransferRequest) {}

  resolve(result: TransferCompletion): void {
    if (this.waiter) this.waiter(result);
    else this.settled = result;
  }
}

/** One endpoint of a simulated device (see the module's description). */
export class SimEndpoint {
  /** The endpoint address, direction bit included. */
  readonly address: number;
  /** Its transfer type. */
  readonly kind: EndpointKind;
  /** wMaxPacketSize of the active alternate setting. */
  maxPacketSize: number;
  /** Set while the endpoint is halted (stalls every transfer). */
  halted = false;
  /** OUT endpoints: called with each transfer's data. Default: accept and drop. */
  onReceive: ReceiveHandler | undefined;
  /** Isochronous IN endpoints: produce packets. Default: every packet empty. */
  onIsoIn: IsoInHandler | undefined;
  /** Isochronous OUT endpoints: consume packets. Default: accept all. */
  onIsoOut: IsoOutHandler | undefined;
  /** Bulk and interrupt IN endpoints: data produced on demand once the queue is empty. */
  source: InSource | undefined;

  private readonly queue: Message[] = [];
  private queued = 0;
  /**
   * Buffers of consumed messages, by length, for send() to reuse: a fresh
   * buffer per message costs page faults (tens of us for 64 KiB, bench/),
   * where a device has fixed memory.
   */
  private readonly pool = new Map<number, Uint8Array<ArrayBuffer>[]>();
  private poolBytes = 0;
  private readonly pending: Pending[] = [];
  private gone = false;

  constructor(address: number, kind: EndpointKind, maxPacketSize: number) {
    this.address = address;
    this.kind = kind;
    this.maxPacketSize = maxPacketSize;
  }

  /** True for IN (device-to-host) endpoints. */
  get isIn(): boolean {
    return (this.address & 0x80) !== 0;
  }

  /** Bytes the device has queued for IN transfers and the host has not read. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Host transfers waiting on this endpoint. */
  get pendingTransfers(): number {
    return this.pending.length;
  }

  /**
   * Queue data for the host to read (IN endpoints). It goes out as packets;
   * a final packet shorter than maxPacketSize ends the host's transfer. Pass
   * `zlp` to end it with a zero-length packet when the length is an exact
   * multiple. The data is copied, unless its buffer was given away whole
   * (buffers.ts: the OUT copy the simulated navigator.usb took): then the
   * endpoint keeps that buffer.
   */
  send(data: Uint8Array, options?: { zlp?: boolean }): void {
    if (!this.isIn) throw new Error(`endpoint 0x${this.address.toString(16)} is OUT; send() is for IN`);
    if (this.gone) return;
    let copy = data;
    if (!takeGiven(data)) {
      const reused = this.pool.get(data.length)?.pop();
      if (reused) this.poolBytes -= reused.length;
      // (an ArrayBuffer of its own from the start: a result handed over whole needs one, see gathered())
      copy = reused ?? new Uint8Array(new ArrayBuffer(data.length));
      copy.set(data);
    }
    this.queue.push({ data: copy, offset: 0, zlp: options?.zlp ?? false, owned: true });
    this.queued += data.length;
    this.pumpIn();
  }

  /** Drop queued IN data (a device reset, a flush). */
  flush(): void {
    for (const m of this.queue.splice(0)) this.retire(m);
    this.queued = 0;
  }

  /** The device has room again: retry OUT transfers it NAKed. */
  ready(): void {
    this.pumpOut();
  }

  /** Halt the endpoint (the device stalls it). Waiting transfers stall now. */
  halt(): void {
    this.halted = true;
    this.failPending(TransferStatus.STALL);
  }

  /** CLEAR_FEATURE(ENDPOINT_HALT): resume, and resets the data toggle. */
  clearHalt(): void {
    this.halted = false;
    this.pumpIn();
    this.pumpOut();
  }

  /** @internal The device went away: every waiting transfer ends with NO_DEVICE. */
  disconnect(): void {
    this.gone = true;
    this.failPending(TransferStatus.NO_DEVICE);
  }

  /** @internal Reset by a bus reset or reconfiguration: drop data and transfers. */
  reset(status: TransferStatusCode = TransferStatus.ERROR): void {
    this.flush();
    this.halted = false;
    this.failPending(status);
  }

  /** @internal A host transfer arrives. */
  submit(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    if (this.gone) return { status: TransferStatus.NO_DEVICE };
    if (this.halted) return { status: TransferStatus.STALL };
    if (this.kind === 'isochronous') return this.iso(request);

    // an OUT transfer with nobody ahead of it goes to the device at once (the common case)
    if (!this.isIn && !this.pending.length) {
      const r = this.receive(request.data ?? new Uint8Array(0));
      if (r) return r;
      // NAK: it waits for ready()
    }
    const p = new Pending(request);
    this.pending.push(p);
    if (this.isIn) this.pumpIn();
    else if (this.pending.length > 1) this.pumpOut();
    if (p.settled) return p.settled;
    return new Promise<TransferCompletion>((resolve) => {
      p.waiter = resolve;
    });
  }

  /**
   * @internal The host cancels a waiting transfer. Like a cancelled URB, it
   * reports the IN data it had already gathered.
   */
  cancel(request: TransferRequest): boolean {
    const i = this.pending.findIndex((p) => p.request === request);
    if (i < 0) return false;
    const [p] = this.pending.splice(i, 1);
    p.resolve({ status: TransferStatus.CANCELLED, data: p.received ? gathered(p) : undefined });
    return true;
  }

  private failPending(status: TransferStatusCode): void {
    const waiting = this.pending.splice(0);
    for (const p of waiting) p.resolve({ status, data: p.received ? gathered(p) : undefined });
  }

  private pumpOut(): void {
    while (this.pending.length && !this.halted && !this.gone) {
      const p = this.pending[0];
      const r = this.receive(p.request.data ?? new Uint8Array(0));
      if (!r) return; // NAK: wait for ready()
      this.pending.shift();
      p.resolve(r);
      if (r.status === TransferStatus.STALL) {
        this.failPending(TransferStatus.STALL);
        return;
      }
    }
  }

  /** OUT data to the device: how the transfer completes, or undefined when the device NAKs it. */
  private receive(data: Uint8Array): TransferCompletion | undefined {
    const outcome = this.onReceive ? this.onReceive(data, this) : undefined;
    if (outcome === false) return undefined;
    if (outcome === 'stall') {
      this.halted = true;
      return { status: TransferStatus.STALL, bytesWritten: 0 };
    }
    return { status: TransferStatus.COMPLETED, bytesWritten: data.length };
  }

  private pumpIn(): void {
    const mps = this.maxPacketSize;
    while (this.pending.length && !this.halted && !this.gone) {
      const p = this.pending[0];
      if (!this.queue.length && !this.pull(p.request.length - p.received)) {
        if (!this.source || p.request.length > p.received) return; // wait for data
        // a zero-length IN transfer to a device that always has data
        this.pending.shift();
        p.resolve({ status: TransferStatus.COMPLETED, data: gathered(p) });
        continue;
      }
      let room = p.request.length - p.received;
      let done = false;
      let status: TransferStatusCode = TransferStatus.COMPLETED;

      while (!done && (this.queue.length || this.pull(room))) {
        const m = this.queue[0];
        const avail = m.data.length - m.offset;
        if (avail === 0) {
          // a zero-length packet: ends the transfer
          this.retire(this.queue.shift()!);
          done = true;
          break;
        }
        if (room === 0) {
          done = true;
          break;
        }
        const fullBytes = avail - (avail % mps);
        const take = Math.min(fullBytes, room - (room % mps));
        if (take > 0) {
          this.takeBytes(p, m, take);
          room -= take;
        } else {
          const packet = Math.min(mps, avail);
          if (packet > room) {
            // babble: the device sent more than the buffer holds
            this.takeBytes(p, m, room);
            m.offset += packet - room;
            this.queued -= packet - room;
            room = 0;
            status = TransferStatus.OVERFLOW;
            done = true;
          } else {
            this.takeBytes(p, m, packet);
            room -= packet;
            if (packet < mps) done = true; // short packet
          }
        }
        if (m.offset === m.data.length && !(m.zlp && m.data.length % mps === 0 && m.data.length > 0)) {
          this.retire(this.queue.shift()!);
        } else if (m.offset === m.data.length) {
          // leave the ZLP: it becomes its own packet
          this.retire(m);
          m.data = new Uint8Array(0);
          m.offset = 0;
          m.zlp = false;
          m.owned = false;
        }
        if (room === 0) done = true;
      }

      if (!done) return; // wait for more data
      this.pending.shift();
      p.resolve({ status, data: gathered(p) });
    }
  }

  /** Ask the source for more IN data; false when there is none. */
  private pull(room: number): boolean {
    if (!this.source || room <= 0) return false;
    const data = this.source(room, this);
    if (!data.length) return false;
    this.queue.push({ data, offset: 0, zlp: false });
    this.queued += data.length;
    return true;
  }

  /**
   * Move n bytes of a message into a transfer: straight into the program's
   * buffer when the host offers it (request.into), else as a view of the
   * message (which then can no longer be reused).
   */
  private takeBytes(p: Pending, m: Message, n: number): void {
    if (n <= 0) return;
    // (a view costs more than the message itself when the message is small: V8 then moves it out of its heap)
    const whole = m.offset === 0 && n === m.data.length;
    const bytes = whole ? m.data : m.data.subarray(m.offset, m.offset + n);
    if (p.request.into) {
      p.request.into.set(bytes, p.received);
    } else {
      if (!p.firstChunk) {
        p.firstChunk = bytes;
        p.wholeMessage = m.owned === true && whole;
      } else {
        (p.moreChunks ??= []).push(bytes);
      }
      m.lent = true;
    }
    p.received += n;
    m.offset += n;
    this.queued -= n;
  }

  /** A message left the queue: keep its buffer for send() if nobody holds a view of it. */
  private retire(m: Message): void {
    if (!m.owned || m.lent || this.poolBytes + m.data.length > POOL_MAX_BYTES) return;
    const list = this.pool.get(m.data.length);
    if (list) list.push(m.data as Uint8Array<ArrayBuffer>);
    else this.pool.set(m.data.length, [m.data as Uint8Array<ArrayBuffer>]);
    this.poolBytes += m.data.length;
  }

  private iso(request: TransferRequest): TransferCompletion {
    const lengths = request.isoPacketLengths ?? [];
    if (this.isIn) {
      const packets = this.onIsoIn
        ? this.onIsoIn(lengths, this)
        : Array.from(lengths, () => ({ status: TransferStatus.COMPLETED, data: new Uint8Array(0) }));
      return { status: TransferStatus.COMPLETED, isoPackets: packets };
    }
    const data = request.data ?? new Uint8Array(0);
    const packets: Uint8Array[] = [];
    let off = 0;
    for (let i = 0; i < lengths.length; i++) {
      packets.push(data.subarray(off, off + lengths[i]));
      off += lengths[i];
    }
    const results = this.onIsoOut?.(packets, this)
      ?? packets.map((d) => ({ status: TransferStatus.COMPLETED, length: d.length }));
    return { status: TransferStatus.COMPLETED, isoPackets: results };
  }
}

/**
 * A copy of `data` in a fresh buffer. Host data are views of the program's
 * wasm memory (a SharedArrayBuffer), where V8's slice() takes a slow path
 * (8x slower than allocating and set(), measured in bench/).
 */
export function copyBytes(data: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return copy;
}

/**
 * What an IN transfer gathered: in the program's buffer, or joined from its
 * chunks. A buffer nobody else holds (a whole message of the endpoint's own,
 * or the join) is given away with it, so a platform that must answer with a
 * buffer of its own (WebUSB) can take it instead of copying.
 */
function gathered(p: Pending): Uint8Array {
  if (p.request.into) return p.request.into.subarray(0, p.received);
  if (!p.firstChunk) return new Uint8Array(0);
  if (!p.moreChunks) return p.wholeMessage ? giveAway(p.firstChunk) : p.firstChunk;
  return giveAway(joinChunks(p.firstChunk, p.moreChunks, p.received));
}

/** `first` and then `rest`, in a new buffer of `total` bytes. */
function joinChunks(first: Uint8Array, rest: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  out.set(first, 0);
  let off = first.length;
  for (const c of rest) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
