/**
 * Whether a context keeps a Node process running. Its workers and message
 * ports hold the process open (Node's ref/unref); a context told not to
 * (`createContext({ keepAlive: false })`, or `context.unref()`) lets go of
 * them while it is idle, as the `usb` package's `unrefHotplugEvents()`
 * does, but holds on while a call is in flight, so that awaiting one never
 * ends the process half-way. In browsers there is nothing to hold.
 * @module
 * @internal
 */

/** What can hold a Node process open: workers and message ports. */
interface Refable {
  ref(): void;
  unref(): void;
}

export class KeepAlive {
  private readonly handles: Refable[] = [];
  private calls = 0;
  private wanted: boolean;

  /** `wanted`: keep the process running even while idle. */
  constructor(wanted: boolean) {
    this.wanted = wanted;
  }

  /** Hold or release this handle with the rest (objects without ref/unref are ignored). */
  track(handle: object): void {
    const h = handle as Partial<Refable>;
    if (typeof h.ref !== 'function' || typeof h.unref !== 'function') return;
    this.handles.push(h as Refable);
    this.apply();
  }

  /** Keep the process running while idle (true, the default) or not. */
  set(wanted: boolean): void {
    this.wanted = wanted;
    this.apply();
  }

  /** A call is in flight: hold the process open until the returned function is called. */
  hold(): () => void {
    this.calls++;
    this.apply();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.calls--;
      this.apply();
    };
  }

  private apply(): void {
    const on = this.wanted || this.calls > 0;
    for (const h of this.handles) {
      if (on) h.ref();
      else h.unref();
    }
  }
}
