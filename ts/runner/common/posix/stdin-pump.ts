/**
 * The caller's end of stdin streaming: reads the program's stdin source (a
 * Node Readable or any async iterable, a web ReadableStream, or bytes given
 * up front) when the program first reads, and sends it to the program's
 * worker in chunks, never more than `window` bytes ahead of what the
 * program took: a 100 MiB pipe goes through in bounded memory, and a
 * producer is held back (backpressure) while the program is slow.
 * @module
 */
import type { PosixToProgram } from './messages.js';

/** What a program's stdin can be. */
export type StdinSource =
  | string
  | Uint8Array
  | AsyncIterable<Uint8Array | string>
  | ReadableStream<Uint8Array>;

const CHUNK = 64 * 1024;

function isReadableStream(source: StdinSource): source is ReadableStream<Uint8Array> {
  return typeof (source as ReadableStream).getReader === 'function';
}

/** A source's chunks, and how to stop a read in progress. */
type Chunks = Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>;

function open(source: StdinSource): { chunks: Chunks; cancel(): void } {
  if (typeof source === 'string' || source instanceof Uint8Array) {
    return { chunks: [source], cancel() {} };
  }
  if (isReadableStream(source)) {
    const reader = source.getReader();
    return {
      chunks: (async function* () {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          yield value;
        }
      })(),
      cancel: () => void reader.cancel().catch(() => {}),
    };
  }
  // a Node Readable ends a pending read when destroyed; other iterables stop at their next chunk
  const stream = source as { destroy?: () => void };
  return { chunks: source, cancel: () => stream.destroy?.() };
}

export class StdinPump {
  private started = false;
  private stopped = false;
  private inFlight = 0;
  private wake?: () => void;
  private cancel?: () => void;

  /**
   * @param send posts a message to the program's worker (transferring the chunk's buffer)
   * @param onError the source failed: the program reads EIO after the bytes it got
   */
  constructor(private readonly source: StdinSource, private readonly send: (m: PosixToProgram, transfer: ArrayBuffer[]) => void,
    private readonly onError: (e: Error) => void, private readonly window = 1 << 20) {}

  /** The program reads stdin: start (once). */
  demand(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    void this.run();
  }

  /** The program took this many bytes. */
  taken(bytes: number): void {
    this.inFlight -= bytes;
    this.wake?.();
  }

  /** The program ended: stop reading (a Node stream being read is destroyed). */
  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.cancel?.();
  }

  private async run(): Promise<void> {
    const encoder = new TextEncoder();
    const { chunks, cancel } = open(this.source);
    this.cancel = cancel;
    try {
      for await (const piece of chunks) {
        const bytes = typeof piece === 'string' ? encoder.encode(piece) : piece;
        for (let at = 0; at < bytes.length && !this.stopped; at += CHUNK) {
          // a copy of its own, transferred (a Node Buffer's slice() is a view of a shared buffer)
          const chunk = new Uint8Array(bytes.subarray(at, at + CHUNK));
          this.inFlight += chunk.length;
          this.send({ t: 'stdin', data: chunk }, [chunk.buffer]);
          while (this.inFlight >= this.window && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
        }
        if (this.stopped) return;
      }
      if (!this.stopped) this.send({ t: 'stdin-end' }, []);
    } catch (e) {
      if (this.stopped) return;
      this.onError(e as Error);
      this.send({ t: 'stdin-end', error: (e as Error)?.message ?? String(e) }, []);
    }
  }
}
