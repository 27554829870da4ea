/**
 * `libusb-wasm run`'s signals: SIGINT, SIGTERM and SIGHUP sent to this
 * process reach the program as signals (its handlers run; without them it
 * ends with 128 + the signal's number), terminal resizes reach it as a new
 * size and SIGWINCH, and a second Ctrl-C ends it at once (exit status 130),
 * for a program whose handler does not end it.
 * @module
 */
import type { RunningProgram } from '../node/index.js';

/** After a second Ctrl-C, how long the program's devices may take to be released before this process exits anyway. */
const KILL_GRACE_MS = 3000;

/** Forward signals to the program until it ends; resolves with the exit status this command should have. */
export async function forwardSignals(program: RunningProgram): Promise<number> {
  let interrupts = 0;
  let killedByUs = false;
  const onInterrupt = () => {
    if (++interrupts === 1) {
      program.signal('SIGINT');
      return;
    }
    if (killedByUs) return;
    killedByUs = true;
    process.stderr.write('libusb-wasm: interrupted again: ending the program now\n');
    // its devices are released first; do not wait forever for that
    setTimeout(() => process.exit(130), KILL_GRACE_MS).unref();
    void program.kill();
  };
  const onTerminate = () => program.signal('SIGTERM');
  const onHangUp = () => program.signal('SIGHUP');
  const onResize = () => program.resizeTerminal(process.stdout.columns, process.stdout.rows);
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onTerminate);
  process.on('SIGHUP', onHangUp);
  if (process.stdout.isTTY) process.stdout.on('resize', onResize);
  try {
    const code = await program.exited;
    return killedByUs ? 130 : code;
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onTerminate);
    process.off('SIGHUP', onHangUp);
    process.stdout.off('resize', onResize);
  }
}
