/**
 * The transport host against a program that writes the shared-memory
 * protocol by hand (no libusb in between): forged and broken requests, the
 * host's own limits and endpoint checks (which the C side's checks do not
 * replace), and what a detach leaves behind.
 */
import { describe, expect, it } from 'vitest';
import { TransportHost } from '../ts/host/host.js';
import {
  LW_HOST_ATTACHED, LW_HOST_GONE, LW_HOTPLUG_ARRIVED, LW_HOTPLUG_LEFT, LW_MAGIC, LW_PROTOCOL_VERSION, LW_REQ_SIZE, LwCtxShared as CtxShared,
  LwOp as Op, LwReq as Req, LwShared as Shared,
} from '../ts/host/protocol.gen.js';
import { SimBus } from '../ts/sim/bus.js';
import { LoopbackDevice } from '../ts/sim/models/loopback.js';
import { SimTransport } from '../ts/sim/transport.js';
import { TransferStatus, TransferType, ErrorCode } from '../ts/usb/constants.js';
import type { PolicyOptions } from '../ts/host/policy.js';

const SHARED = 64;
const CTX = 1024;
const HANDLE = 1088;
const REQS = 2048; // requests from here, 128 bytes apart
const BUF = 16384;

/** A fake program: a wasm memory with a shared block, attached to a host. */
function program(host: TransportHost, id: string, policy?: PolicyOptions) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const u32 = new Uint32Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  u32[(SHARED + Shared.magic) >> 2] = LW_MAGIC;
  u32[(SHARED + Shared.version) >> 2] = LW_PROTOCOL_VERSION;
  u32[(SHARED + Shared.req_size) >> 2] = LW_REQ_SIZE;
  expect(host.attach(memory, SHARED, { id, policy })).toBe(0);
  expect(u32[(SHARED + Shared.host_state) >> 2]).toBe(LW_HOST_ATTACHED);
  let next = 0;
  const req = (op: number, fields: Partial<Record<keyof typeof Req, number>> = {}) => {
    const ptr = REQS + 128 * next++;
    u32.fill(0, ptr >> 2, (ptr + LW_REQ_SIZE) >> 2);
    u32[(ptr + Req.op) >> 2] = op;
    for (const [k, v] of Object.entries(fields)) u32[(ptr + Req[k as keyof typeof Req]) >> 2] = v >>> 0;
    return ptr;
  };
  const post = (ptr: number, link = true) => {
    const headIdx = (SHARED + Shared.req_head) >> 2;
    if (link) u32[(ptr + Req.next) >> 2] = Atomics.load(u32, headIdx);
    Atomics.store(u32, headIdx, ptr);
    Atomics.add(i32, (SHARED + Shared.doorbell) >> 2, 1);
    Atomics.notify(i32, (SHARED + Shared.doorbell) >> 2);
  };
  const answer = async (ptr: number) => {
    for (let i = 0; i < 500 && !Atomics.load(i32, (ptr + Req.done) >> 2); i++) await new Promise((r) => setTimeout(r, 2));
    expect(Atomics.load(i32, (ptr + Req.done) >> 2), 'the host answers').toBe(1);
    return { status: i32[(ptr + Req.status) >> 2], actual: u32[(ptr + Req.actual) >> 2] };
  };
  const call = async (op: number, fields: Partial<Record<keyof typeof Req, number>> = {}) => {
    const ptr = req(op, fields);
    post(ptr);
    return answer(ptr);
  };
  /** Completed transfers so far (taken off the context's completion stack), by request pointer. */
  const completions = new Map<number, number>();
  const reap = () => {
    let p = Atomics.exchange(u32, (CTX + CtxShared.done_head) >> 2, 0);
    while (p) {
      completions.set(p, i32[(p + Req.status) >> 2]);
      p = u32[(p + Req.next) >> 2];
    }
    return completions;
  };
  const settled = async (ptr: number) => {
    for (let i = 0; i < 500 && !reap().has(ptr); i++) await new Promise((r) => setTimeout(r, 2));
    return completions.get(ptr);
  };
  return { memory, u32, i32, req, post, answer, call, reap, settled };
}

async function withHost(fn: (host: TransportHost, logs: string[]) => Promise<void>) {
  const logs: string[] = [];
  const transport = new SimTransport(new SimBus(), { devices: [new LoopbackDevice()] });
  const host = new TransportHost(transport, { log: (m) => logs.push(m) });
  try {
    await fn(host, logs);
  } finally {
    await host.stop();
  }
}

/** Attach a context, list devices, open the loopback device and claim interface 0: returns the handle id. */
async function openLoopback(p: ReturnType<typeof program>): Promise<number> {
  expect((await p.call(Op.CTX_ATTACH, { arg0: CTX })).status).toBe(0);
  expect((await p.call(Op.LIST_DEVICES, { arg0: CTX, buf: BUF, len: 4096 })).status).toBe(0);
  expect(p.u32[BUF >> 2]).toBe(1);
  const id = p.u32[(BUF + 8) >> 2];
  const open = await p.call(Op.OPEN, { dev: id, arg0: HANDLE });
  expect(open.status).toBe(0);
  expect((await p.call(Op.CLAIM_INTERFACE, { handle: open.actual, arg0: 0 })).status).toBe(0);
  return open.actual;
}

const bulkIn = (handle: number, len = 64) => ({ ctx: CTX, handle, arg0: 0x81, arg1: TransferType.BULK, buf: BUF, len, seq: 1 });

describe('the host against forged requests', () => {
  it('answers requests with bad pointers with an error, and keeps serving', async () => {
    await withHost(async (host, logs) => {
      const p = program(host, 'forger', {});
      expect((await p.call(Op.CTX_ATTACH, { arg0: 0xfffffff0 })).status).toBe(ErrorCode.INVALID_PARAM);
      expect((await p.call(Op.CTX_ATTACH, { arg0: CTX })).status).toBe(0);
      expect((await p.call(Op.LIST_DEVICES, { arg0: CTX, buf: 0xffffff00, len: 0x7fffffff })).status).toBe(ErrorCode.INVALID_PARAM);
      expect((await p.call(Op.OPEN, { dev: 0x7fffffff, arg0: HANDLE })).status).toBe(ErrorCode.NOT_FOUND);
      expect((await p.call(Op.CLAIM_INTERFACE, { handle: 0x7ffffff0 })).status).toBe(ErrorCode.NOT_FOUND);
      expect((await p.call(9999)).status).toBe(ErrorCode.NOT_SUPPORTED);
      // a request pointer outside the memory, linked into the stack
      const honest = p.req(Op.GET_CONFIGURATION, { dev: 1 });
      p.u32[(honest + Req.next) >> 2] = 0xfffff000;
      p.post(honest, false);
      expect((await p.answer(honest)).status).toBe(0);
      expect(logs.join('\n')).toMatch(/outside its memory/);
      // a request posted twice: a cycle
      const twice = p.req(Op.GET_CONFIGURATION, { dev: 1 });
      p.u32[(twice + Req.next) >> 2] = twice;
      p.post(twice, false);
      expect((await p.answer(twice)).status).toBe(0);
      expect(logs.join('\n')).toMatch(/cycle/);
      expect((await p.call(Op.LIST_DEVICES, { arg0: CTX, buf: BUF, len: 4096 })).status).toBe(0);
    });
  });

  it('enforces the limits and the claimed endpoints itself, whatever the C side did', async () => {
    await withHost(async (host) => {
      const p = program(host, 'flooder', { maxTransfersInFlight: 2 });
      const handle = await openLoopback(p);
      const t = [0, 1, 2].map(() => p.req(Op.SUBMIT, bulkIn(handle)));
      for (const r of t) p.post(r);
      expect(await p.settled(t[2])).toBe(TransferStatus.ERROR); // past the limit
      expect(p.reap().has(t[0]) || p.reap().has(t[1])).toBe(false); // the others wait for data
      // an endpoint of no claimed interface, even with the handle's masks forged in memory
      p.u32[HANDLE >> 2] = 0xffffffff;
      const forged = p.req(Op.SUBMIT, { ...bulkIn(handle), arg0: 0x83, arg1: TransferType.BULK });
      await p.call(Op.CANCEL, { arg0: t[0], arg1: 1 });
      p.post(forged);
      expect(await p.settled(forged)).toBe(TransferStatus.ERROR);
      // a buffer past the end of memory
      const outside = p.req(Op.SUBMIT, { ...bulkIn(handle), buf: 65536 - 8, len: 64 });
      p.post(outside);
      expect(await p.settled(outside)).toBe(TransferStatus.ERROR);
      expect(p.u32[(SHARED + Shared.limit_transfers) >> 2]).toBe(2);
      // every submit the host took is accounted for in finished_transfers except the one still in flight
      expect(p.u32[(SHARED + Shared.finished_transfers) >> 2]).toBe(4);
    });
  });

  it('refuses raw SET_CONFIGURATION and SET_INTERFACE submits: our libusb sends those as the libusb calls', async () => {
    await withHost(async (host, logs) => {
      const p = program(host, 'raw', {});
      const handle = await openLoopback(p);
      const control = (setup: number[]) => {
        new Uint8Array(p.memory.buffer).set(setup, BUF);
        return p.req(Op.SUBMIT, { ctx: CTX, handle, arg0: 0, arg1: TransferType.CONTROL, buf: BUF, len: 8, seq: 7 });
      };
      const setConfiguration = control([0x00, 0x09, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]);
      p.post(setConfiguration);
      expect(await p.settled(setConfiguration)).toBe(TransferStatus.STALL);
      const setInterface = control([0x01, 0x0b, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00]);
      p.post(setInterface);
      expect(await p.settled(setInterface)).toBe(TransferStatus.STALL);
      expect(logs.join('\n')).toMatch(/raw SET_CONFIGURATION request, refused/);
      expect(logs.join('\n')).toMatch(/raw SET_INTERFACE request, refused/);
      // the claim still stands: a GET_STATUS goes through
      const status = control([0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00]);
      p.u32[(status + Req.len) >> 2] = 10;
      p.post(status);
      expect(await p.settled(status)).toBe(TransferStatus.COMPLETED);
    });
  });

  it('a detach ends transfers, releases claims and closes the device: another program claims it at once', async () => {
    await withHost(async (host) => {
      const a = program(host, 'a', {});
      const handle = await openLoopback(a);
      const t = a.req(Op.SUBMIT, bulkIn(handle));
      a.post(t);
      const b = program(host, 'b', {});
      expect((await b.call(Op.CTX_ATTACH, { arg0: CTX })).status).toBe(0);
      expect((await b.call(Op.LIST_DEVICES, { arg0: CTX, buf: BUF, len: 4096 })).status).toBe(0);
      const open = await b.call(Op.OPEN, { dev: b.u32[(BUF + 8) >> 2], arg0: HANDLE });
      expect((await b.call(Op.CLAIM_INTERFACE, { handle: open.actual, arg0: 0 })).status).toBe(ErrorCode.BUSY);

      expect(await host.detach('a')).toBe(true);
      expect(a.u32[(SHARED + Shared.host_state) >> 2]).toBe(LW_HOST_GONE);
      expect(await a.settled(t)).toBe(TransferStatus.NO_DEVICE);
      expect((await b.call(Op.CLAIM_INTERFACE, { handle: open.actual, arg0: 0 })).status).toBe(0);
      expect(host.programs()).toEqual(['b']);
    });
  });
});

describe('grants during a run', () => {
  it('a revoked device leaves, comes back when granted again, and answers NO_DEVICE meanwhile', async () => {
    await withHost(async (host) => {
      const loopback = { vendorId: 0x1209, productId: 0x0001 };
      const p = program(host, 'p', { grants: [loopback] });
      const handle = await openLoopback(p);
      const devId = p.u32[(BUF + 8) >> 2];
      const event = async () => {
        const r = await p.call(Op.NEXT_HOTPLUG, { arg0: CTX, buf: BUF, len: 4096 });
        return r.status === 0 ? [p.u32[BUF >> 2], p.u32[(BUF + 4) >> 2]] : r.status;
      };
      await host.revoke('p', loopback);
      expect(await event()).toEqual([LW_HOTPLUG_LEFT, devId]);
      expect((await p.call(Op.CLEAR_HALT, { handle, arg0: 0x81 })).status).toBe(ErrorCode.NO_DEVICE);
      expect((await p.call(Op.OPEN, { dev: devId, arg0: HANDLE + 16 })).status).toBe(ErrorCode.NO_DEVICE);
      host.grant('p', loopback);
      expect(await event()).toEqual([LW_HOTPLUG_ARRIVED, devId]);
      expect((await p.call(Op.OPEN, { dev: devId, arg0: HANDLE + 16 })).status).toBe(0);
      expect(await event()).toBe(ErrorCode.NOT_FOUND); // nothing more queued
    });
  });
});
