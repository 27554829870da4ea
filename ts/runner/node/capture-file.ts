/**
 * A capture streamed to a file by the host's worker: records are gathered
 * into writes of up to FLUSH_BYTES, and what is gathered is written at
 * least every FLUSH_MS, so the file is never held in memory and a crash
 * loses a fraction of a second at most; and when a program leaves the host,
 * so that its records are in the file once its run has ended.
 * @module
 */
import fs from 'node:fs';
import { CaptureRecorder } from '../../usb/capture/recorder.js';
import type { CaptureSettings, HostCapture } from '../common/capture.js';

/** Gathered bytes that trigger a write. */
const FLUSH_BYTES = 64 * 1024;
/** The longest gathered bytes wait for a write. */
const FLUSH_MS = 250;

/** Open `settings.file` (truncating it) and record into it. Throws a message naming the file when it cannot. */
export function fileCapture(settings: CaptureSettings & { file: string }, log: (message: string) => void): HostCapture {
  let fd: number | undefined;
  try {
    fd = fs.openSync(settings.file, 'w');
  } catch (e) {
    throw new Error(`capture: cannot write ${settings.file}: ${(e as Error).message}`);
  }
  let gathered: Uint8Array[] = [];
  let gatheredBytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (fd === undefined || !gathered.length) return;
    const chunks = gathered;
    gathered = [];
    gatheredBytes = 0;
    try {
      let left = chunks.reduce((n, c) => n + c.length, 0);
      while (left > 0) {
        const n = fs.writevSync(fd, chunks);
        left -= n;
        dropWritten(chunks, n);
      }
    } catch (e) {
      log(`capture: writing ${settings.file} failed (${(e as Error).message}); the capture stops here`);
      recorder.close();
      fs.closeSync(fd);
      fd = undefined;
    }
  };

  const recorder = new CaptureRecorder({
    sink: {
      write(chunk) {
        gathered.push(chunk);
        gatheredBytes += chunk.length;
        if (gatheredBytes >= FLUSH_BYTES) flush();
        else timer ??= setTimeout(flush, FLUSH_MS);
      },
    },
    snapLength: settings.snapLength,
    maxBytes: settings.maxBytes,
    label: settings.file,
    log,
  });
  return {
    recorder,
    snapshot: () => undefined,
    flush,
    async finish() {
      recorder.close();
      flush();
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
}

/** Drop the first `n` bytes of `chunks` (a short writev). */
function dropWritten(chunks: Uint8Array[], n: number): void {
  while (n > 0 && chunks.length) {
    if (chunks[0].length <= n) {
      n -= chunks[0].length;
      chunks.shift();
    } else {
      chunks[0] = chunks[0].subarray(n);
      n = 0;
    }
  }
}
