/**
 * The JS end of the shared-memory channel to the API shim
 * (wasm/api/api_protocol.h): posting commands and transfers, and one wait
 * loop that receives everything the shim sends back. It runs on the
 * worker's own thread, next to the transport host, and never blocks it.
 * @module
 * @internal
 */
import { LWA_EVT_HOTPLUG, LWA_EVT_LOG, LWA_MAGIC, LWA_VERSION, LwaBlock, LwaIsoPacket, LwaMsg, LwaTransfer } from './api-protocol.gen.js';

/** malloc/free of the shim's wasm instance. */
export interface WasmAllocator {
  malloc(size: number): number;
  free(ptr: number): void;
}

/** What a command returns: libusb's result, the six argument words, and the payload C wrote. */
export interface CommandReply {
  result: number;
  args: number[];
  data?: Uint8Array;
}

/** An event the shim started (hotplug, log). */
export interface ShimEvent {
  kind: number;
  args: number[];
  data?: Uint8Array;
}

/** A transfer for the shim to submit. */
export interface TransferSpec {
  handle: number;
  endpoint: number;
  /** libusb transfer type */
  type: number;
  timeout: number;
  flags: number;
  /** The buffer's length: IN bytes wanted, OUT bytes sent (control: 8 + wLength). */
  length: number;
  /** Bytes copied to the start of the buffer (control: the setup packet, then OUT data). */
  out?: Uint8Array;
  isoPacketLengths?: number[];
}

/** How a transfer ended. */
export interface TransferReply {
  /** libusb_transfer_status, or a libusb error (negative) if it could not be submitted. */
  status: number;
  actualLength: number;
  /** The buffer after completion (IN transfers), from `dataOffset` for `actualLength` bytes. */
  data?: Uint8Array;
  iso?: { status: number; actualLength: number; data?: Uint8Array }[];
}

interface Pending {
  resolve: (ptr: number) => void;
}

export class ShimChannel {
  private memory?: WebAssembly.Memory;
  private alloc?: WasmAllocator;
  private block = 0;
  private u8 = new Uint8Array(0);
  private u32 = new Uint32Array(0);
  private i32 = new Int32Array(0);
  private running = false;
  private readonly pending = new Map<number, Pending>();
  /**
   * CANCEL commands on their way for a transfer, by its address: its memory
   * is freed only once they are answered, so the shim never looks at a
   * transfer that JS has freed (and malloc may have handed out again).
   */
  private readonly cancelling = new Map<number, number>();
  private readonly freeWhenCancelled = new Set<number>();
  private markReady!: () => void;
  /** Resolves when the shim has attached. */
  readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));
  /** Receives hotplug and log events. */
  onEvent: (event: ShimEvent) => void = () => {};

  /** Called (through the shim's JS library) once the shim's main() runs. */
  attach(memory: WebAssembly.Memory, block: number, alloc: WasmAllocator): void {
    this.memory = memory;
    this.block = block;
    this.alloc = alloc;
    this.refresh();
    if (this.u32[(block + LwaBlock.magic) >> 2] !== LWA_MAGIC || this.u32[(block + LwaBlock.version) >> 2] !== LWA_VERSION) {
      throw new Error('the API shim speaks a different protocol version than this libusb-wasm; reinstall it');
    }
    this.running = true;
    void this.loop();
    this.markReady();
  }

  /** Stop receiving (the program has ended). Whatever is pending never completes. */
  close(): void {
    this.running = false;
    if (this.block) {
      Atomics.add(this.i32, (this.block + LwaBlock.evt_bell) >> 2, 1);
      Atomics.notify(this.i32, (this.block + LwaBlock.evt_bell) >> 2);
    }
  }

  /** Run a command on the shim's command thread. */
  async command(kind: number, args: number[] = []): Promise<CommandReply> {
    await this.ready;
    const ptr = this.malloc(LwaMsg.SIZE);
    this.refresh();
    this.u8.fill(0, ptr, ptr + LwaMsg.SIZE);
    this.u32[(ptr + LwaMsg.kind) >> 2] = kind;
    args.forEach((a, i) => (this.u32[(ptr + LwaMsg.arg + 4 * i) >> 2] = a >>> 0));
    await this.post(ptr);
    this.refresh();
    const reply: CommandReply = { result: this.i32[(ptr + LwaMsg.result) >> 2], args: this.args(ptr) };
    const data = this.u32[(ptr + LwaMsg.data) >> 2];
    if (data) {
      reply.data = this.u8.slice(data, data + this.u32[(ptr + LwaMsg.len) >> 2]);
      this.alloc!.free(data);
    }
    this.alloc!.free(ptr);
    return reply;
  }

  /**
   * Submit a transfer. `started` receives a handle that {@link cancel}
   * accepts while the transfer is in flight.
   */
  async transfer(spec: TransferSpec, started?: (handle: number) => void, dataOffset = 0): Promise<TransferReply> {
    await this.ready;
    const iso = spec.isoPacketLengths ?? [];
    const bufferAt = LwaTransfer.SIZE + iso.length * LwaIsoPacket.SIZE;
    const ptr = this.malloc(bufferAt + spec.length);
    this.refresh();
    this.u8.fill(0, ptr, ptr + bufferAt);
    const w = (offset: number, v: number) => (this.u32[(ptr + offset) >> 2] = v >>> 0);
    w(LwaMsg.kind, 20 /* LwaOp.SUBMIT */);
    w(LwaMsg.arg, spec.handle);
    w(LwaMsg.arg + 4, spec.endpoint);
    w(LwaMsg.arg + 8, spec.type);
    w(LwaMsg.arg + 12, spec.timeout);
    w(LwaMsg.arg + 16, spec.flags);
    w(LwaMsg.data, ptr + bufferAt);
    w(LwaMsg.len, spec.length);
    w(LwaTransfer.num_iso, iso.length);
    iso.forEach((len, i) => w(LwaTransfer.SIZE + i * LwaIsoPacket.SIZE + LwaIsoPacket.length, len));
    if (spec.out) this.u8.set(spec.out, ptr + bufferAt);
    started?.(ptr);
    await this.post(ptr);

    this.refresh();
    const status = this.i32[(ptr + LwaMsg.result) >> 2];
    const reply: TransferReply = { status, actualLength: this.u32[(ptr + LwaMsg.arg + 20) >> 2] };
    const buffer = ptr + bufferAt;
    if (iso.length) {
      let offset = buffer;
      reply.iso = iso.map((len, i) => {
        const d = ptr + LwaTransfer.SIZE + i * LwaIsoPacket.SIZE;
        const actualLength = this.u32[(d + LwaIsoPacket.actual_length) >> 2];
        const packet = { status: this.u32[(d + LwaIsoPacket.status) >> 2], actualLength, data: this.u8.slice(offset, offset + actualLength) };
        offset += len;
        return packet;
      });
    } else if (status >= 0) {
      reply.data = this.u8.slice(buffer + dataOffset, buffer + dataOffset + reply.actualLength);
    }
    if (this.cancelling.has(ptr)) this.freeWhenCancelled.add(ptr);
    else this.alloc!.free(ptr);
    return reply;
  }

  /** Cancel a transfer in flight; the shim answers NOT_FOUND when it already completed. */
  async cancel(transfer: number): Promise<number> {
    this.cancelling.set(transfer, (this.cancelling.get(transfer) ?? 0) + 1);
    try {
      return (await this.command(21 /* LwaOp.CANCEL */, [transfer])).result;
    } finally {
      const left = this.cancelling.get(transfer)! - 1;
      if (left) {
        this.cancelling.set(transfer, left);
      } else {
        this.cancelling.delete(transfer);
        if (this.freeWhenCancelled.delete(transfer)) this.alloc!.free(transfer);
      }
    }
  }

  // ---- shared memory ------------------------------------------------------

  private refresh(): void {
    const buf = this.memory!.buffer;
    if (buf.byteLength !== this.u8.byteLength) {
      this.u8 = new Uint8Array(buf);
      this.u32 = new Uint32Array(buf);
      this.i32 = new Int32Array(buf);
    }
  }

  private malloc(size: number): number {
    const ptr = this.alloc!.malloc(size);
    if (!ptr) throw new Error('libusb-wasm: out of wasm memory');
    return ptr;
  }

  private args(ptr: number): number[] {
    const out = [];
    for (let i = 0; i < 6; i++) out.push(this.u32[(ptr + LwaMsg.arg + 4 * i) >> 2]);
    return out;
  }

  /** Push a message for the command thread and wait until the shim hands it back. */
  private post(ptr: number): Promise<number> {
    if (!this.running) return Promise.reject(new Error('libusb-wasm: the API shim has ended'));
    const done = new Promise<number>((resolve) => this.pending.set(ptr, { resolve }));
    const headIdx = (this.block + LwaBlock.cmd_head) >> 2;
    let head: number;
    do {
      head = Atomics.load(this.u32, headIdx);
      this.u32[(ptr + LwaMsg.next) >> 2] = head;
    } while (Atomics.compareExchange(this.u32, headIdx, head, ptr) !== head);
    const bell = (this.block + LwaBlock.cmd_bell) >> 2;
    Atomics.add(this.i32, bell, 1);
    if (Atomics.load(this.i32, (this.block + LwaBlock.cmd_sleeping) >> 2)) Atomics.notify(this.i32, bell, 1);
    return done;
  }

  /** Take everything the shim sent back; false if there was nothing. */
  private drain(): boolean {
    this.refresh();
    let head = Atomics.exchange(this.u32, (this.block + LwaBlock.evt_head) >> 2, 0);
    if (!head) return false;
    let prev = 0;
    while (head) {
      const next = this.u32[(head + LwaMsg.next) >> 2];
      this.u32[(head + LwaMsg.next) >> 2] = prev;
      prev = head;
      head = next;
    }
    for (let p = prev; p;) {
      const next = this.u32[(p + LwaMsg.next) >> 2];
      const waiter = this.pending.get(p);
      if (waiter) {
        this.pending.delete(p);
        waiter.resolve(p);
      } else {
        this.event(p);
      }
      p = next;
    }
    return true;
  }

  private event(ptr: number): void {
    const kind = this.u32[(ptr + LwaMsg.kind) >> 2];
    const event: ShimEvent = { kind, args: this.args(ptr) };
    const data = this.u32[(ptr + LwaMsg.data) >> 2];
    if (data) {
      event.data = this.u8.slice(data, data + this.u32[(ptr + LwaMsg.len) >> 2]);
      this.alloc!.free(data);
    }
    this.alloc!.free(ptr);
    if (kind === LWA_EVT_HOTPLUG || kind === LWA_EVT_LOG) this.onEvent(event);
  }

  private async loop(): Promise<void> {
    const bell = (this.block + LwaBlock.evt_bell) >> 2;
    const waiting = (this.block + LwaBlock.js_waiting) >> 2;
    const head = (this.block + LwaBlock.evt_head) >> 2;
    while (this.running) {
      if (this.drain()) {
        await null; // let the replies' continuations run, then look again
        continue;
      }
      const seen = Atomics.load(this.i32, bell);
      Atomics.store(this.i32, waiting, 1);
      if (Atomics.load(this.u32, head) || !this.running) {
        Atomics.store(this.i32, waiting, 0);
        continue;
      }
      const w = Atomics.waitAsync(this.i32, bell, seen);
      if (w.async) await w.value;
      Atomics.store(this.i32, waiting, 0);
    }
  }
}
