/**
 * The shared-memory protocol between the JS API server and the API shim,
 * JS side. Mirrors wasm/api/api_protocol.h; test/api-protocol.test.ts checks
 * that the numbers agree.
 * @module
 * @internal
 */

export const LWA_MAGIC = 0x6170776c;
export const LWA_VERSION = 1;

/** Commands (lwa_msg.kind). */
export const ApiOp = {
  INIT: 1,
  EXIT: 2,
  SET_LOG_LEVEL: 3,
  GET_DEVICE_LIST: 4,
  OPEN: 5,
  CLOSE: 6,
  GET_CONFIGURATION: 7,
  SET_CONFIGURATION: 8,
  CLAIM_INTERFACE: 9,
  RELEASE_INTERFACE: 10,
  SET_ALTSETTING: 11,
  CLEAR_HALT: 12,
  RESET_DEVICE: 13,
  KERNEL_DRIVER_ACTIVE: 14,
  DETACH_KERNEL_DRIVER: 15,
  ATTACH_KERNEL_DRIVER: 16,
  SET_AUTO_DETACH: 17,
  GET_STRING_DESCRIPTOR: 18,
  GET_BOS: 19,
  SUBMIT: 20,
  CANCEL: 21,
} as const;
export type ApiOpCode = (typeof ApiOp)[keyof typeof ApiOp];

export const LWA_INIT_NO_DEVICE_DISCOVERY = 0x1;

/** Events (lwa_msg.kind) C starts itself. */
export const ApiEvent = {
  HOTPLUG: 0x100,
  LOG: 0x101,
} as const;
export const LWA_HOTPLUG_ARRIVED = 1;
export const LWA_HOTPLUG_LEFT = 2;

/** struct lwa_msg, byte offsets */
export const Msg = {
  next: 0,
  kind: 4,
  result: 8,
  arg: 12,
  data: 36,
  len: 40,
  SIZE: 44,
} as const;

/** struct lwa_transfer, byte offsets (after the message) */
export const Xfer = {
  num_iso: 44,
  SIZE: 60,
} as const;

/** struct lwa_iso_packet */
export const IsoPacket = {
  length: 0,
  actual_length: 4,
  status: 8,
  SIZE: 12,
} as const;

/** struct lwa_block, byte offsets */
export const Block = {
  magic: 0,
  version: 4,
  cmd_head: 8,
  cmd_bell: 12,
  cmd_sleeping: 16,
  evt_head: 20,
  evt_bell: 24,
  js_waiting: 28,
  SIZE: 32,
} as const;
