/**
 * The `capture` option of runProgram() and createHost(), in Node and in
 * browsers: which transfers the transport host records, in pcapng with the
 * Linux usbmon link type (ts/usb/capture/), and where the bytes go. The
 * embedder asks for it; a program never can (docs/capture.md).
 *
 * - `capture: 'out.pcapng'` or `{ file: 'out.pcapng' }` (Node): streamed to
 *   the file by the host's worker, in chunks, never held whole in memory.
 * - `capture: true` or `{ ... }` without a file: kept in the host's worker;
 *   `host.capture()` (or the program's `capture`) gives it as a Blob.
 * @module
 */
import { CaptureRecorder, DEFAULT_CAPTURE_LIMIT } from '../../usb/capture/recorder.js';
import type { ByteSink } from '../../usb/capture/pcapng.js';

/** What to capture, and where. */
export interface CaptureOptions {
  /** Node: the pcapng file to write. Without one the capture stays in memory (a Blob). */
  file?: string;
  /** Bytes of each transfer's data kept (default: all of it). */
  snapLength?: number;
  /**
   * Stop recording once the capture is this big, saying so (default 256
   * MiB; Infinity: no limit). Transfers go on; they are no longer recorded.
   */
  maxBytes?: number;
}

/** The `capture` option: a file name (Node), true (in memory), or {@link CaptureOptions}. */
export type CaptureChoice = string | true | CaptureOptions;

/** A capture as the host's worker gets it (checked, file path absolute). */
export interface CaptureSettings {
  /** Absolute path (Node), or none: in memory. */
  file?: string;
  /** Bytes of data per record; Infinity: all. */
  snapLength: number;
  /** The size limit; Infinity: none. */
  maxBytes: number;
}

/** The MIME type of pcapng files (what Wireshark registers). */
export const PCAPNG_MIME_TYPE = 'application/x-pcapng';

/** Check a `capture` option; `resolve` makes a file path absolute (Node), and its absence means files are not available. */
export function captureSettings(choice: CaptureChoice, resolve?: (file: string) => string): CaptureSettings {
  const options: CaptureOptions = typeof choice === 'string' ? { file: choice } : choice === true ? {} : choice;
  if (typeof options !== 'object' || options === null) throw new Error(`capture: expected a file name, true or { file, snapLength, maxBytes }, got ${String(choice)}`);
  const snapLength = options.snapLength ?? Infinity;
  const maxBytes = options.maxBytes ?? DEFAULT_CAPTURE_LIMIT;
  if (!(snapLength >= 0)) throw new Error(`capture: snapLength must be a number of bytes (0 or more), got ${String(options.snapLength)}`);
  if (!(maxBytes > 4096)) throw new Error(`capture: maxBytes must be more than 4096 bytes (or Infinity), got ${String(options.maxBytes)}`);
  if (options.file !== undefined) {
    if (!resolve) throw new Error('capture: files are written in Node only; in a browser, take the capture as a Blob (capture: true, then host.capture())');
    if (!options.file) throw new Error('capture: the file name is empty');
    return { file: resolve(options.file), snapLength, maxBytes };
  }
  return { snapLength, maxBytes };
}

/** A capture being recorded in a host's worker, and how it ends. */
export interface HostCapture {
  /** The recorder the host writes to. */
  readonly recorder: CaptureRecorder;
  /** What was captured so far, as a Blob (in-memory captures; undefined for a file). */
  snapshot(): Blob | undefined;
  /** Write out what is buffered now (a file; nothing to do in memory). */
  flush(): void;
  /** Stop recording and write out what is buffered (the file is complete once this resolves). */
  finish(): Promise<void>;
}

/** An in-memory capture: its chunks stay in the worker until the embedder takes them as a Blob. */
export function memoryCapture(settings: CaptureSettings, log: (message: string) => void): HostCapture {
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  const sink: ByteSink = { write: (chunk) => chunks.push(chunk as Uint8Array<ArrayBuffer>) };
  const recorder = new CaptureRecorder({ sink, snapLength: settings.snapLength, maxBytes: settings.maxBytes, log });
  return {
    recorder,
    snapshot: () => new Blob(chunks, { type: PCAPNG_MIME_TYPE }),
    flush: () => {},
    finish: async () => recorder.close(),
  };
}
