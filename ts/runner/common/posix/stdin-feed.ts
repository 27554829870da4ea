/**
 * The program worker's end of stdin streaming: chunks from the caller wait
 * here until the C side's ring (wasm/runtime/stdin.c) has room, and the
 * caller hears how many bytes went in, so that it sends more. The caller
 * starts sending when the program first reads (demanded()).
 * @module
 */

import { RingFeed } from './ring-feed.js';

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
  private entries?: StdinEntries;
  private readonly ring: RingFeed;
  private ending?: { error?: string };
  private endDelivered = false;
  private asked = false;

  constructor(private readonly caller: StdinCaller) {
    this.ring = new RingFeed({
      space: () => this.entries!.lw_stdin_space(),
      writeAt: () => this.entries!.lw_stdin_write_at(),
      commit: (n) => this.entries!.lw_stdin_commit(n),
      heap: () => this.heap!(),
    });
  }

  private heap?: () => Uint8Array;

  /** The C side's entries (all four, or stdin stays unfed: a program built without our runtime). */
  attach(entries: Partial<StdinEntries>, heap: () => Uint8Array): void {
    const { lw_stdin_space, lw_stdin_write_at, lw_stdin_commit, lw_stdin_end } = entries;
    if (!lw_stdin_space || !lw_stdin_write_at || !lw_stdin_commit || !lw_stdin_end) return;
    this.entries = { lw_stdin_space, lw_stdin_write_at, lw_stdin_commit, lw_stdin_end };
    this.heap = heap;
  }

  demanded(): void {
    if (this.asked) return;
    this.asked = true;
    this.caller.demand();
  }

  push(chunk: Uint8Array): void {
    this.ring.push(chunk);
    this.pump();
  }

  end(error?: string): void {
    this.ending = { error };
    this.pump();
  }

  /** Move what fits into the ring; the end goes in after the last byte. */
  pump(): void {
    const c = this.entries;
    if (!c) return;
    const moved = this.ring.fill();
    if (moved === undefined) return; // nested: the fill in progress goes on
    if (moved) this.caller.taken(moved);
    if (this.ring.empty && this.ending && !this.endDelivered) {
      this.endDelivered = true;
      c.lw_stdin_end(this.ending.error === undefined ? 0 : 1);
    }
  }
}
