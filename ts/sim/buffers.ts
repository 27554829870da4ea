/**
 * Buffers that change hands without a copy. WebUSB wants a buffer of its
 * own for each result, and takes a copy of each OUT buffer; when the bytes
 * already sit in a buffer nobody else will touch (the OUT copy the
 * simulated navigator.usb took, a message an endpoint queued), the next
 * owner can take that buffer instead of copying it again.
 *
 * One buffer at a time is on offer: the giver offers it, and the next owner
 * takes it in the same synchronous stretch of code (the loopback model's
 * send() of the OUT data it is handed, SimUSB's result of an IN transfer
 * that completed at once). Anything else finds nothing on offer, or
 * another buffer, and copies: the offer is a shortcut, never a promise.
 * @module
 */

let offered: Uint8Array | undefined;

/**
 * Offer the buffer `bytes` spans whole: whoever takes it may keep it and
 * write to it. Returns `bytes`. (It reaches `bytes.buffer`: for typed
 * arrays of up to 64 bytes, which V8 keeps inside its heap, that costs
 * about as much as a copy.)
 */
export function giveAway<T extends Uint8Array>(bytes: T): T {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) offered = bytes;
  return bytes;
}

/** Take `bytes`' buffer if it is the one on offer: then it is the caller's alone. */
export function takeGiven(bytes: Uint8Array): boolean {
  if (bytes !== offered) return false;
  offered = undefined;
  return true;
}
