/**
 * The shared-memory protocol, JS side. Mirrors wasm/backend/protocol.h;
 * test/protocol.test.ts checks that the numbers agree.
 * @module
 */

export const LW_MAGIC = 0x6273756c;
export const LW_PROTOCOL_VERSION = 3;

export const Op = {
  CTX_ATTACH: 1,
  CTX_DETACH: 2,
  LIST_DEVICES: 3,
  NEXT_HOTPLUG: 4,
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
  SUBMIT: 17,
  CANCEL: 18,
  GET_STRING: 19,
} as const;

export const LW_CTX_NO_DISCOVERY = 0x1;

/** struct lw_req, byte offsets */
export const Req = {
  next: 0,
  op: 4,
  status: 8,
  done: 12,
  ctx: 16,
  dev: 20,
  handle: 24,
  arg0: 28,
  arg1: 32,
  buf: 36,
  len: 40,
  actual: 44,
  timeout: 48,
  iso: 52,
  num_iso: 56,
  flags: 60,
  seq: 64,
} as const;
export const LW_REQ_SIZE = 68;

/** struct lw_shared */
export const Shared = {
  magic: 0,
  version: 4,
  req_head: 8,
  doorbell: 12,
  host_idle: 16,
  req_size: 20,
  host_state: 24,
  limit_transfers: 28,
  limit_bytes: 32,
  finished_transfers: 36,
  finished_bytes: 40,
  host_beat: 64,
  prog_beat: 128,
} as const;
export const LW_SHARED_SIZE = 192;

export const HostState = { NONE: 0, ATTACHED: 1, GONE: 2 } as const;

/** struct lw_ctx_shared */
export const CtxShared = {
  wake: 0,
  sleepers: 4,
  done_head: 8,
  hotplug_pending: 12,
} as const;
export const LW_CTX_SHARED_SIZE = 16;

/** struct lw_handle_shared */
export const HandleShared = {
  ep_in_mask: 0,
  ep_out_mask: 4,
  gone: 8,
  flags: 12,
} as const;
export const LW_HANDLE_SHARED_SIZE = 16;
/** lw_handle_shared.flags: the transport cannot do isochronous transfers on this device. */
export const LW_HANDLE_NO_ISO = 0x1;

export const LW_DEVREC_HEADER_SIZE = 20;
export const LW_MAX_PORTS = 7;
export const LW_HOTPLUG_ARRIVED = 1;
export const LW_HOTPLUG_LEFT = 2;

/** struct libusb_iso_packet_descriptor: length, actual_length, status (12 bytes). */
export const IsoPacket = { length: 0, actual_length: 4, status: 8, SIZE: 12 } as const;
