/**
 * One program worker started ahead of need. A worker takes tens of
 * milliseconds to boot before it can load a program; where programs come
 * one after another on a host made once (createHost(), then runProgram()
 * after runProgram(): a web IDE, a service), the next program's worker has
 * booted already and only waits for its program. Kept only while such a
 * host is open (or booted once for a program known to come); one at a time.
 * @module
 */

/** A worker booted ahead for the next program (see the module's description). */
export class SpareWorker<W> {
  private spare: W | undefined;
  private holders = 0;

  /** `start` boots a worker that waits for its program; `end` ends one nobody took. */
  constructor(private readonly start: () => W, private readonly end: (worker: W) => void) {}

  /** A host that serves many programs opened: keep a worker ready from now on. */
  hold(): void {
    if (this.holders++ === 0) this.refill();
  }

  /** That host closed: when none is left, the spare goes. */
  release(): void {
    if (--this.holders > 0 || !this.spare) return;
    this.end(this.spare);
    this.spare = undefined;
  }

  /** Boot one now for a program about to come (`libusb-wasm run`, before it loads the rest of the runner). */
  bootOne(): void {
    this.spare ??= this.start();
  }

  /** The worker booted ahead, if there is one; the caller hands it its program. */
  take(): W | undefined {
    const w = this.spare;
    this.spare = undefined;
    return w;
  }

  /**
   * Boot the next spare, if a host still wants one. Called once the taken
   * worker's program has started, so that the two boots do not compete for
   * the CPU.
   */
  refill(): void {
    if (this.holders > 0 && !this.spare) this.spare = this.start();
  }

  /** The spare died before anyone took it (it failed to boot): forget it. */
  lost(worker: W): void {
    if (this.spare === worker) this.spare = undefined;
  }
}
