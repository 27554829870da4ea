/**
 * How the simulated navigator.usb settles its promises. Chrome runs WebUSB
 * in another process: every call's answer comes back as an IPC message,
 * that is one task per completion on the calling thread's event loop, never
 * a microtask of the call. Code that only yields to microtasks (`await
 * null` in a loop) never sees such an answer until it yields to the task
 * queue. `'task'` reproduces that; `'microtask'` (the default) settles as
 * soon as the device model has answered, which is the fastest a platform
 * can be and what tests of device behaviour want.
 * @module
 */

/** `'microtask'`: promises settle as soon as the device answers; `'task'`: each in a task of its own, as Chrome's do. */
export type ResultDelivery = 'microtask' | 'task';

/** Runs a callback in a task of its own. */
export type TaskScheduler = (run: () => void) => void;

/** The bits of Node's MessagePort beyond the browser's (keeping the event loop alive). */
interface RefCounted {
  ref?(): void;
  unref?(): void;
}

/**
 * The scheduler a delivery mode needs: none for `'microtask'`; for
 * `'task'`, one MessageChannel message per callback (browsers and Node both
 * have it; a message is what Chrome's answer is). In Node the channel keeps
 * the event loop alive only while answers wait to be delivered.
 */
export function resultScheduler(delivery: ResultDelivery): TaskScheduler | undefined {
  if (delivery === 'microtask') return undefined;
  if (delivery !== 'task') throw new TypeError(`result delivery must be 'microtask' or 'task', not '${String(delivery)}'`);
  const { port1, port2 } = new MessageChannel();
  const receiver = port2 as MessagePort & RefCounted;
  const waiting: (() => void)[] = [];
  receiver.onmessage = () => {
    const run = waiting.shift();
    if (!waiting.length) receiver.unref?.();
    run?.();
  };
  receiver.unref?.();
  return (run) => {
    if (!waiting.length) receiver.ref?.();
    waiting.push(run);
    port1.postMessage(null);
  };
}
