/**
 * The exit status runProgram() reports. A program whose host refused it, or
 * went away while it ran, or that never started, did not do its work,
 * whatever status it ends with: it never reports 0 (some programs treat
 * libusb_init failing, or every device gone, as nothing to do).
 * @module
 */

/**
 * How long a program may go on after its transport host ended: every USB
 * call fails at once then, and its devices have left, but a program that
 * waits for a device to arrive would wait for ever.
 */
export const HOST_GONE_GRACE_MS = 5000;

/** The status to report for a program that ended with `status`; `problem` says what went wrong, if anything. */
export function finalStatus(name: string, status: number, problem: string | undefined, say: (line: string) => void): number {
  if (!problem || status !== 0) return status;
  say(`libusb-wasm: ${name} ends with status 1: ${problem}`);
  return 1;
}
