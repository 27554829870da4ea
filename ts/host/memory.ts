/**
 * A program's wasm memory as the transport host sees it: typed views that
 * follow memory growth, and bounds checks. Everything the host reads from a
 * program (request pointers, buffers, lengths) is untrusted: a program can
 * write anything there, so every address is checked before use and a bad
 * one can only fail that program's own request.
 * @module
 */
const EMPTY = new Uint8Array(0);

export class ProgramMemory {
  u8 = EMPTY;
  u32 = new Uint32Array(0);
  i32 = new Int32Array(0);

  constructor(readonly memory: WebAssembly.Memory) {
    this.refresh();
  }

  /** Re-create the views after the memory grew. */
  refresh(): void {
    const buf = this.memory.buffer;
    if (buf.byteLength !== this.u8.byteLength) {
      this.u8 = new Uint8Array(buf);
      this.u32 = new Uint32Array(buf);
      this.i32 = new Int32Array(buf);
    }
  }

  /** Whether [ptr, ptr+len) lies inside the memory (and ptr is aligned to `align`). Refreshes first. */
  valid(ptr: number, len: number, align = 1): boolean {
    if (!Number.isInteger(ptr) || !Number.isInteger(len) || ptr < 0 || len < 0) return false;
    if (ptr % align !== 0) return false;
    if (ptr + len > this.u8.byteLength) this.refresh();
    return ptr + len <= this.u8.byteLength;
  }

  /** A 32-bit field of a structure (the caller checked the structure's bounds). */
  field(ptr: number, offset: number): number {
    return this.u32[(ptr + offset) >> 2];
  }
}
