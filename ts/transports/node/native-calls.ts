/**
 * Calls into the `usb` package's native binding that have not settled yet.
 *
 * Each asynchronous call of the binding (a napi-rs async function) runs on a
 * thread of the binding's and settles its promise through a thread-safe
 * function of the JS environment that made the call. If that environment
 * is gone first — a worker thread that exited — Node before 24.14 / 25.4
 * touches freed memory when the call settles, and the whole process
 * crashes, later and wherever it happens to be (nodejs/node#55706, fixed by
 * nodejs/node#55877). Programs run in worker threads, so the node transport
 * counts every such call and does not finish closing while one is pending.
 * @module
 */
/** A count of the binding's pending calls, and a bounded wait for there to be none. */
export class NativeCalls {
  private pending = 0;
  private readonly waiters: (() => void)[] = [];

  /** How many calls have not settled. */
  get count(): number {
    return this.pending;
  }

  /** Make a call into the binding, counted until it settles. */
  track<T>(call: () => Promise<T>): Promise<T> {
    let promise: Promise<T>;
    try {
      promise = call();
    } catch (e) {
      return Promise.reject(e); // thrown before anything reached the binding's threads
    }
    this.pending++;
    const done = () => {
      if (--this.pending === 0) for (const w of this.waiters.splice(0)) w();
    };
    promise.then(done, done);
    return promise;
  }

  /** Resolves with true once no call is pending, or with false after `ms`. */
  settled(ms: number): Promise<boolean> {
    if (this.pending === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        resolve(false);
      }, ms);
      this.waiters.push(waiter);
    });
  }
}
