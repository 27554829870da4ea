/**
 * The page of the Chromium modes of bench/run.mjs (served cross-origin
 * isolated by scripts/serve.mjs from build/bench/browser/). The driver
 * (chromium.mjs) calls `window.bench`: each call runs one thing and
 * resolves with the lines it printed.
 * - wasm(): a benchmark program through the browser runtime
 *   (dist/browser.js runProgram, a private host: both in Web Workers) over
 *   the simulated navigator.usb the mode asks for;
 * - baseline(): the same loops in JS in a Web Worker (baseline-worker.ts);
 * - coldStart(): runProgram() to the program's first line, with a private
 *   host or with one host made once (`warm`);
 * - busy(): keep one more worker spinning (the contention modes).
 * @module
 */
import type * as Runtime from '../../ts/runner/browser/index.js';
import type { TransportSpec } from '../../ts/runner/common/transports.js';
import type { BaselineRequest } from './baseline-worker.js';

const runtime = (await import('/dist/browser.js' as string)) as typeof Runtime;

/** One run's output. */
interface Printed {
  lines: string[];
  errors: string[];
  code: number;
  /** ms from runProgram() to the first line (cold start) */
  firstLineMs?: number;
}

const TIMEOUT_MS = 120_000;

function withTimeout<T>(p: Promise<T>, what: string, onTimeout?: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`${what}: no answer in ${TIMEOUT_MS / 1000} s`));
    }, TIMEOUT_MS);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

let warmHost: Runtime.ProgramHost | undefined;
const busy: Worker[] = [];

async function wasm(o: { program: string; args: string[]; transport: TransportSpec; warm?: boolean }): Promise<Printed> {
  const out: Printed = { lines: [], errors: [], code: -1 };
  const t0 = performance.now();
  if (o.warm) warmHost ??= runtime.createHost({ transport: o.transport });
  const p = runtime.runProgram({
    program: o.program, args: o.args, ...(o.warm ? { host: warmHost } : { transport: o.transport }),
    stdout: (line) => {
      out.firstLineMs ??= performance.now() - t0;
      (line.startsWith('error:') ? out.errors : out.lines).push(line);
    },
    stderr: (line) => out.errors.push(line),
  });
  out.code = await withTimeout(p.exited, o.program, () => void p.kill());
  return out;
}

function baseline(o: BaselineRequest): Promise<Printed> {
  const out: Printed = { lines: [], errors: [], code: -1 };
  const worker = new Worker(new URL('./baseline-worker.js', import.meta.url), { type: 'module', name: 'baseline' });
  const done = new Promise<Printed>((resolve) => {
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data as string | { done?: true; error?: string };
      if (typeof m === 'string') out.lines.push(m);
      else {
        if (m.error) out.errors.push(m.error);
        out.code = m.error ? 1 : 0;
        resolve(out);
      }
    };
    worker.onerror = (e) => {
      out.errors.push(`baseline worker: ${e.message}`);
      out.code = 1;
      resolve(out);
    };
  });
  worker.postMessage(o);
  return withTimeout(done, 'JS baseline').finally(() => worker.terminate());
}

/** Keep `n` more workers spinning (0 stops them). */
function setBusy(n: number): void {
  while (busy.length > n) busy.pop()!.terminate();
  while (busy.length < n) busy.push(new Worker(URL.createObjectURL(new Blob(['for (;;) {}'], { type: 'text/javascript' })), { name: 'busy' }));
}

(window as unknown as { bench: unknown }).bench = { wasm, baseline, setBusy, isolated: crossOriginIsolated };
document.title = 'ready';
