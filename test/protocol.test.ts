/**
 * The shared-memory protocol has two definitions, one per language
 * (wasm/backend/protocol.h and ts/host/protocol.ts). These tests keep them
 * the same: layouts as the C compiler lays them out, constants as written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../ts/host/protocol.js';
import { ROOT, TESTS, run } from './helpers.js';

describe('protocol.h and protocol.ts agree', () => {
  it('on every structure offset and size', async () => {
    const r = await run(path.join(TESTS, 'protocol_layout.js'), { transport: 'sim' });
    expect(r.code).toBe(0);
    const c = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
    const js: Record<string, number> = {};
    for (const [k, v] of Object.entries(P.Req)) js[`lw_req.${k}`] = v;
    for (const [k, v] of Object.entries(P.Shared)) js[`lw_shared.${k}`] = v;
    for (const [k, v] of Object.entries(P.CtxShared)) js[`lw_ctx_shared.${k}`] = v;
    for (const [k, v] of Object.entries(P.HandleShared)) js[`lw_handle_shared.${k}`] = v;
    js['libusb_iso_packet_descriptor.length'] = P.IsoPacket.length;
    js['libusb_iso_packet_descriptor.actual_length'] = P.IsoPacket.actual_length;
    js['libusb_iso_packet_descriptor.status'] = P.IsoPacket.status;
    js['size.lw_req'] = P.LW_REQ_SIZE;
    js['size.lw_shared'] = P.LW_SHARED_SIZE;
    js['size.lw_ctx_shared'] = P.LW_CTX_SHARED_SIZE;
    js['size.lw_handle_shared'] = P.LW_HANDLE_SHARED_SIZE;
    js['size.iso'] = P.IsoPacket.SIZE;
    expect(js).toEqual(c);
  });

  it('on every constant', () => {
    const h = fs.readFileSync(path.join(ROOT, 'wasm/backend/protocol.h'), 'utf8');
    const define = (name: string) => {
      const m = new RegExp(`#define ${name}\\s+(0x[0-9a-f]+|\\d+)u?`, 'i').exec(h);
      if (!m) throw new Error(`${name} not in protocol.h`);
      return Number(m[1]);
    };
    expect(define('LW_MAGIC')).toBe(P.LW_MAGIC);
    expect(define('LW_PROTOCOL_VERSION')).toBe(P.LW_PROTOCOL_VERSION);
    expect(define('LW_CTX_NO_DISCOVERY')).toBe(P.LW_CTX_NO_DISCOVERY);
    expect(define('LW_DEVREC_HEADER_SIZE')).toBe(P.LW_DEVREC_HEADER_SIZE);
    expect(define('LW_MAX_PORTS')).toBe(P.LW_MAX_PORTS);
    expect(define('LW_HOTPLUG_ARRIVED')).toBe(P.LW_HOTPLUG_ARRIVED);
    expect(define('LW_HOTPLUG_LEFT')).toBe(P.LW_HOTPLUG_LEFT);
    expect(define('LW_HANDLE_NO_ISO')).toBe(P.LW_HANDLE_NO_ISO);
    expect(define('LW_HOST_ATTACHED')).toBe(P.HostState.ATTACHED);
    expect(define('LW_HOST_GONE')).toBe(P.HostState.GONE);
    const ops = Object.fromEntries([...h.matchAll(/LW_OP_([A-Z_]+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect(ops).toEqual(P.Op);
  });
});
