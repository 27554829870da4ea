/**
 * The JS baseline in a Web Worker (the Chromium modes of bench/run.mjs):
 * the loops of ../js/loops.ts on the device object ../js/targets.ts makes,
 * each line posted to the page, as bench/js/baseline.ts does in a Node
 * worker thread.
 * @module
 */
import type { ResultDelivery } from '../../ts/sim/webusb/delivery.js';
import { runCases } from '../js/loops.js';
import { makeTarget, type TargetName } from '../js/targets.js';

/** What the page asks for. */
export interface BaselineRequest {
  target: TargetName;
  delivery: ResultDelivery;
  cases: string[];
  ms: number;
  warmup: number;
}

declare const self: { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };

self.onmessage = (e: MessageEvent) => {
  const o = e.data as BaselineRequest;
  makeTarget(o.target, o.delivery)
    .then((target) => runCases(target, o.cases, o, (line) => self.postMessage(line)))
    .then(() => self.postMessage({ done: true }), (err) => self.postMessage({ error: String(err?.stack ?? err) }));
};
