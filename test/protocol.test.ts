/**
 * Each shared-memory contract is written once, as a C header; its
 * TypeScript side is generated from it (scripts/gen-protocol.mjs). These
 * tests keep the generator honest: every field and size it laid out is what
 * the C compiler lays out (the layout programs print offsetof/sizeof of
 * exactly the fields the generator saw), and it refuses what it cannot lay
 * out rather than guess.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as Host from '../ts/host/protocol.gen.js';
import * as Api from '../ts/api/api-protocol.gen.js';
import { ROOT, TESTS, run } from './helpers.js';

const { parseHeader, tsSource } = (await import(path.join(ROOT, 'scripts/gen-protocol.mjs'))) as {
  parseHeader(text: string, file: string): { structs: { name: string; size: number }[] };
  tsSource(header: string, parsed: unknown): string;
};

/** What the generated module says: 'struct.field' -> offset, 'size.struct' -> size. */
function generated(structs: Record<string, Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, fields] of Object.entries(structs)) {
    for (const [field, offset] of Object.entries(fields)) out[field === 'SIZE' ? `size.${name}` : `${name}.${field}`] = offset;
  }
  return out;
}

async function compiled(program: string): Promise<Record<string, number>> {
  const r = await run(path.join(TESTS, program), { transport: 'sim' });
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
}

describe('the generated protocol modules', () => {
  it('lay out every field of protocol.h as the C compiler does', async () => {
    const c = await compiled('protocol_layout.js');
    expect(Object.keys(c).length).toBeGreaterThan(40);
    expect(generated(Host.STRUCTS)).toEqual(c);
  });

  it('lay out every field of api_protocol.h as the C compiler does', async () => {
    const c = await compiled('api_protocol_layout.js');
    expect(Object.keys(c).length).toBeGreaterThan(15);
    expect(generated(Api.STRUCTS)).toEqual(c);
  });

  it('carry the constants and operations', () => {
    expect(Host.LW_MAGIC).toBe(0x6273756c);
    expect(Host.LwOp.SUBMIT).toBe(17);
    expect(Api.LwaOp.SUBMIT).toBe(20);
    expect(Host.LwShared.SIZE).toBe(Host.LW_SHARED_SIZE);
  });

  it('refuse a field type the generator cannot lay out, and a name not yet defined', () => {
    expect(() => parseHeader('struct s { double d; };', 'x.h')).toThrow(/type double is not one the generator lays out/);
    expect(() => parseHeader('struct s { uint32_t a[N]; };', 'x.h')).toThrow(/'N' is not a constant defined before it/);
    const p = parseHeader('#define N 3u\nstruct t { uint8_t b; uint32_t a[N]; uint16_t c; };', 'x.h');
    expect(p.structs[0].size).toBe(20);
    expect(tsSource('x.h', p)).toContain('a: 4,');
  });
});
