/**
 * The program worker's end of stdin streaming: chunks from the caller wait
 * here until the C side's ring (wasm/runtime/stdin.c) has room, and the
 * caller hears how many bytes went in, so that it sends more. The caller
 * starts sending when the program first reads (demanded()).
 * @module
 */

/** The C side's functions for stdin. */
export interface StdinEntries {
  lw_stdin_space(): number;
  lw_stdin_write_at(): number;
  lw_stdin_commit(count: number): void;
  lw_stdin_end(error: number): void;
}

export interface StdinCaller {
  /** The program reads: start streaming. */
  demand(): void;
  /** This many bytes went into the program: send as many more. */
  taken(bytes: number): void;
}

export class StdinFeed {
  private entries?: Partial<StdinEntries>;
  private heap?: () => Uint8Array;
  private readonly queue: Uint8Array[] = [];
  private ending?: { error?: string };
  private endDelivered = false;
  private asked = false;

  constructor(private readonly caller: StdinCaller) {}

  attach(entries: Partial<StdinEntries>, heap: () => Uint8Array): void {
    this.entries = entries;
    this.heap = heap;
  }

  demanded(): void {
    if (this.asked) return;
    this.asked = true;
    this.caller.demand();
  }

  push(chunk: Uint8Array): void {
    if (chunk.length) this.queue.push(chunk);
    this.pump();
  }

  end(error?: string): void {
    this.ending = { error };
    this.pump();
  }

  /** Move what fits into the ring; the end goes in after the last byte. */
  pump(): void {
    const c = this.entries;
    if (!c?.lw_stdin_space || !c.lw_stdin_write_at || !c.lw_stdin_commit || !c.lw_stdin_end || !this.heap) return;
    let taken = 0;
    while (this.queue.length) {
      const space = c.lw_stdin_space();
      if (!space) break;   // the C side says when the program took some
      const chunk = this.queue[0];
      const n = Math.min(space, chunk.length);
      this.heap().set(chunk.subarray(0, n), c.lw_stdin_write_at());
      c.lw_stdin_commit(n);
      taken += n;
      if (n === chunk.length) this.queue.shift();
      else this.queue[0] = chunk.subarray(n);
    }
    if (taken) this.caller.taken(taken);
    if (!this.queue.length && this.ending && !this.endDelivered) {
      this.endDelivered = true;
      c.lw_stdin_end(this.ending.error === undefined ? 0 : 1);
    }
  }
}
