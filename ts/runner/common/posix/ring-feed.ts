/**
 * Bytes waiting to go into one of the C side's rings (stdin's, a socket's
 * receive ring): queued chunks move in as the ring has room.
 *
 * A fill can be re-entered: the ring's functions take the runtime's lock,
 * and a lock wait on the program's main runtime thread runs the notices
 * queued for it, one of which may be "the ring has room, fill it". A nested
 * fill would write where the outer one has written but not yet committed,
 * and drop chunks from the queue twice (stdin read out of order). So a
 * nested call only asks the outer one to look again.
 * @module
 */

/** One ring's functions on the C side. */
export interface RingEnds {
  /** Bytes that fit at writeAt() now (0: full; the C side says when it has room). */
  space(): number;
  /** Where the next bytes go in the program's memory. */
  writeAt(): number;
  /** That many bytes were written at writeAt(). */
  commit(count: number): void;
  /** The program's memory, as it is now. */
  heap(): Uint8Array;
}

export class RingFeed {
  private readonly queue: Uint8Array[] = [];
  private filling = false;
  private again = false;

  constructor(private readonly ends: RingEnds) {}

  /** Nothing waits to go in. */
  get empty(): boolean {
    return this.queue.length === 0;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length) this.queue.push(chunk);
  }

  /**
   * Move what fits. Returns the bytes moved, or undefined for a nested call
   * (the fill in progress moves them and answers for them).
   */
  fill(): number | undefined {
    if (this.filling) {
      this.again = true;
      return undefined;
    }
    this.filling = true;
    let moved = 0;
    try {
      do {
        this.again = false;
        while (this.queue.length) {
          const space = this.ends.space();
          if (!space) break;
          const chunk = this.queue[0];
          const n = Math.min(space, chunk.length);
          this.ends.heap().set(chunk.subarray(0, n), this.ends.writeAt());
          this.ends.commit(n);
          moved += n;
          if (n === chunk.length) this.queue.shift();
          else this.queue[0] = chunk.subarray(n);
        }
      } while (this.again);
    } finally {
      this.filling = false;
    }
    return moved;
  }
}
