/**
 * The typed JS API's shared-memory protocol has two definitions, one per
 * language (wasm/api/api_protocol.h and ts/api/protocol.ts). These tests
 * keep them the same: layouts as the C compiler lays them out, constants as
 * written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../ts/api/protocol.js';
import { ROOT, TESTS, run } from './helpers.js';

describe('api_protocol.h and protocol.ts agree', () => {
  it('on every structure offset and size', async () => {
    const r = await run(path.join(TESTS, 'api_protocol_layout.js'), { transport: 'sim' });
    expect(r.code).toBe(0);
    const c = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
    const js: Record<string, number> = {};
    for (const [k, v] of Object.entries(P.Msg)) if (k !== 'SIZE') js[`lwa_msg.${k}`] = v;
    js['lwa_transfer.num_iso'] = P.Xfer.num_iso;
    for (const [k, v] of Object.entries(P.IsoPacket)) if (k !== 'SIZE') js[`lwa_iso_packet.${k}`] = v;
    for (const [k, v] of Object.entries(P.Block)) if (k !== 'SIZE') js[`lwa_block.${k}`] = v;
    js['size.lwa_msg'] = P.Msg.SIZE;
    js['size.lwa_transfer'] = P.Xfer.SIZE;
    js['size.lwa_iso_packet'] = P.IsoPacket.SIZE;
    js['size.lwa_block'] = P.Block.SIZE;
    expect(js).toEqual(c);
  });

  it('on every constant', () => {
    const h = fs.readFileSync(path.join(ROOT, 'wasm/api/api_protocol.h'), 'utf8');
    const define = (name: string) => {
      const m = new RegExp(`#define ${name}\\s+(0x[0-9a-f]+|\\d+)u?`, 'i').exec(h);
      if (!m) throw new Error(`${name} not in api_protocol.h`);
      return Number(m[1]);
    };
    expect(define('LWA_MAGIC')).toBe(P.LWA_MAGIC);
    expect(define('LWA_VERSION')).toBe(P.LWA_VERSION);
    expect(define('LWA_INIT_NO_DEVICE_DISCOVERY')).toBe(P.LWA_INIT_NO_DEVICE_DISCOVERY);
    expect(define('LWA_EVT_HOTPLUG')).toBe(P.ApiEvent.HOTPLUG);
    expect(define('LWA_EVT_LOG')).toBe(P.ApiEvent.LOG);
    expect(define('LWA_HOTPLUG_ARRIVED')).toBe(P.LWA_HOTPLUG_ARRIVED);
    expect(define('LWA_HOTPLUG_LEFT')).toBe(P.LWA_HOTPLUG_LEFT);
    const ops = Object.fromEntries([...h.matchAll(/LWA_OP_([A-Z_]+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect(ops).toEqual(P.ApiOp);
  });
});
