/**
 * Bytes received on a stream and not yet consumed, as the chunks they came
 * in: taking a run that lies inside one chunk is a view (no copy); only a
 * run that spans chunks is copied together.
 * @module
 */

/** What take(0) returns: one shared empty array (nothing can be written into it). */
const EMPTY = new Uint8Array(0);

export class ByteQueue {
  private chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already consumed. */
  private head = 0;
  /** Bytes available. */
  length = 0;

  push(chunk: Uint8Array): void {
    if (!chunk.length) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /**
   * Consume `n` bytes (at most {@link length}): a view when they lie in one
   * chunk, else a copy; for 0, a shared empty array.
   */
  take(n: number): Uint8Array {
    if (n > this.length) throw new RangeError(`take(${n}) with ${this.length} bytes queued`);
    if (n === 0) return EMPTY;
    const first = this.chunks[0];
    if (first.length - this.head >= n) {
      const view = first.subarray(this.head, this.head + n);
      this.advance(n);
      return view;
    }
    const out = new Uint8Array(n);
    this.drainInto(out, 0, n);
    return out;
  }

  /** Consume up to `max` bytes into `target` at `offset`; returns how many. */
  drainInto(target: Uint8Array, offset: number, max: number): number {
    let copied = 0;
    while (copied < max && this.chunks.length) {
      const first = this.chunks[0];
      const n = Math.min(first.length - this.head, max - copied);
      target.set(first.subarray(this.head, this.head + n), offset + copied);
      copied += n;
      this.advance(n);
    }
    return copied;
  }

  private advance(n: number): void {
    this.head += n;
    this.length -= n;
    if (this.head === this.chunks[0].length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
