/**
 * Each shared-memory contract is written once, as a C header; its
 * TypeScript side is generated from it (scripts/gen-protocol.mjs). These
 * tests keep the generator honest: every field and size it laid out is what
 * the C compiler lays out (the layout programs print offsetof/sizeof of
 * exactly the fields the generator saw), and it refuses what it cannot lay
 * out rather than guess. (The records' field lists are checked end to end in
 * test/api-records.test.ts.)
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as Host from '../ts/host/protocol.gen.js';
import * as Api from '../ts/api/api-protocol.gen.js';
import { ROOT, TESTS, run } from './helpers.js';

const { parseHeader, tsSource } = (await import(path.join(ROOT, 'scripts/gen-protocol.mjs'))) as {
  parseHeader(text: string, file: string): {
    structs: { name: string; size: number }[];
    fieldLists: { name: string; doc?: string; fields: { name: string; width: string }[] }[];
  };
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

  it('read a record field list, continued over lines, and refuse one it cannot read', () => {
    const p = parseHeader('#define LWA_A_FIELDS(X) /* struct a */ \\\n\tX(u8, bLength) X(u16, wValue) \\\n\tX(u32, id)\n', 'x.h');
    expect(p.fieldLists).toEqual([{ name: 'LWA_A_FIELDS', doc: 'struct a', fields: [
      { name: 'bLength', width: 'u8' }, { name: 'wValue', width: 'u16' }, { name: 'id', width: 'u32' }] }]);
    expect(tsSource('x.h', p)).toContain("export const LWA_A_FIELDS = [\n  ['bLength', 'u8'],\n  ['wValue', 'u16'],\n  ['id', 'u32'],\n] as const;");
    const list = (body: string) => () => parseHeader(`#define LWA_A_FIELDS(X) ${body}\n`, 'x.h');
    expect(list('X(u64, a)')).toThrow(/LWA_A_FIELDS\(X\): a: width u64 is not one of u8, u16, u32/);
    expect(list('X(u8, a) X(u8, a)')).toThrow(/a is listed twice/);
    expect(list('X(u8, a) Y(u8, b)')).toThrow(/cannot read 'Y\(u8,'/);
    expect(list('X(u8 a)')).toThrow(/cannot read/);
    expect(list('')).toThrow(/the list is empty/);
    expect(() => parseHeader('#define MAX(a, b) ((a) > (b) ? (a) : (b))\n', 'x.h')).toThrow(/#define MAX\(a, b\): not a field list/);
    expect(() => parseHeader('#define LWA_A_FIELDS(Y) Y(u8, a)\n', 'x.h')).toThrow(/not a field list/);
  });
});
