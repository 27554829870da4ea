/**
 * Buffers for the messages that carry OUT data, kept for the next message
 * once the stream has sent them. A fresh 64 KiB ArrayBuffer is zeroed and
 * faulted in page by page, which on a busy machine costs several times the
 * copy into it; a buffer used before costs only the copy.
 * @module
 */

/** Messages smaller than this are not worth keeping buffers for. */
const SMALLEST = 4096;
/** Buffers kept per size class. */
const KEEP = 16;

export class BufferPool {
  /** Free buffers, by capacity (a power of two). */
  private readonly free = new Map<number, Uint8Array[]>();

  /** A buffer of at least `size` bytes (undefined when a fresh one is as good: a small message). */
  take(size: number): Uint8Array | undefined {
    if (size < SMALLEST) return undefined;
    const capacity = 2 ** Math.ceil(Math.log2(size));
    return this.free.get(capacity)?.pop() ?? new Uint8Array(capacity);
  }

  /** A buffer from take() that is free again. */
  give(buffer: Uint8Array): void {
    const list = this.free.get(buffer.length) ?? [];
    if (list.length < KEEP) list.push(buffer);
    this.free.set(buffer.length, list);
  }
}
