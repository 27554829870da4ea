#!/usr/bin/env node
// Generates the TypeScript side of each shared-memory contract from its C
// header, the one source of truth:
//
//   wasm/backend/protocol.h  -> ts/host/protocol.gen.ts   (+ build/gen/protocol_fields.h)
//   wasm/api/api_protocol.h  -> ts/api/api-protocol.gen.ts (+ build/gen/api_protocol_fields.h)
//   wasm/runtime/ops.h       -> ts/runner/common/posix/ops.gen.ts (the POSIX runtime's calls; no structs)
//
// From a header it takes
//   #define NAME <integer expression>      -> export const NAME = value
//   enum name { PREFIX_A = 1, PREFIX_B }  -> export const Name = { A: 1, B: 2 }
//   struct name { uint32_t a; ... };      -> export const Name = { a: 0, ..., SIZE: n }
//                                            (byte offsets, natural alignment, as wasm32 lays it out)
//   #define NAME_FIELDS(X) X(u8, a) ...   -> export const NAME_FIELDS = [['a', 'u8'], ...] as const
//                                            (a byte-packed record's fixed fields, in order)
// and writes, for the C layout tests of the headers with structs, a list of every struct field
// (F(struct, field)) and size (S(struct)), so test/c/*_layout.c print what the
// compiler made of exactly the fields the generator saw.
//
// Fields may be (_Atomic) u?int{8,16,32}_t, arrays of those, or a struct
// defined earlier in the same header; field list entries are X(u8|u16|u32,
// name). Anything else is an error (so is any other function-like macro), so
// a layout the generator cannot compute never passes silently. Files are rewritten
// only when their content changes.
//
//   node scripts/gen-protocol.mjs          (build.sh runs it)
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

const CONTRACTS = [
  { header: 'wasm/backend/protocol.h', ts: 'ts/host/protocol.gen.ts', fields: 'build/gen/protocol_fields.h' },
  { header: 'wasm/api/api_protocol.h', ts: 'ts/api/api-protocol.gen.ts', fields: 'build/gen/api_protocol_fields.h' },
  { header: 'wasm/runtime/ops.h', ts: 'ts/runner/common/posix/ops.gen.ts' }, // no structs: no layout test
];

const SCALARS = { uint8_t: 1, int8_t: 1, uint16_t: 2, int16_t: 2, uint32_t: 4, int32_t: 4 };
/** The widths a record field list may use (little-endian, unsigned). */
const WIDTHS = ['u8', 'u16', 'u32'];

/** `lw_req` -> `LwReq` */
const pascal = (name) => name.split('_').map((w) => w[0].toUpperCase() + w.slice(1)).join('');

/** Comments out, but the text of each trailing `/* ... *\/` kept per line for docs. */
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/\/\/.*$/gm, '');
}

/** Evaluate a C integer constant expression of literals, known names, ( ) << >> | & + - ~. */
function evaluate(expr, known, where) {
  const js = expr.replace(/\b(0x[0-9a-f]+|\d+)[uUlL]*\b/gi, '$1').replace(/\b([A-Za-z_]\w*)\b/g, (name) => {
    if (!(name in known)) throw new Error(`${where}: '${name}' is not a constant defined before it`);
    return `(${known[name]})`;
  });
  if (!/^[\s\d xa-fA-F()<>|&+\-~*]+$/.test(js)) throw new Error(`${where}: cannot evaluate '${expr}'`);
  const value = Function(`return (${js});`)();
  if (!Number.isInteger(value)) throw new Error(`${where}: '${expr}' is not an integer`);
  return value >>> 0 === value || value >= 0 ? value >>> 0 : value;
}

/** Read a header's constants, enums and structs (`file` names it in errors). */
export function parseHeader(raw, file) {
  const text = stripComments(raw);
  const docs = new Map(); // 'struct.field', enum member or #define name -> its comment
  let inStruct;
  for (const line of raw.split('\n')) {
    const open = /^\s*struct\s+(\w+)\s*\{/.exec(line);
    if (open) inStruct = open[1];
    else if (/^\s*\}\s*;/.test(line)) inStruct = undefined;
    const c = /\/\*\s*(.*?)\s*\*\/\s*$/.exec(line);
    if (!c) continue;
    const text = c[1].replace(/^\d+:\s*/, '');
    if (!text || /^\d+$/.test(text)) continue; // an offset only
    const field = /^\s*(?:_Atomic\s+)?(?:struct\s+)?\w+\s+(\w+)(?:\[[^\]]+\])?\s*;/.exec(line);
    const define = /^#define\s+(\w+)\s/.exec(line);
    const member = /^\s*([A-Z][A-Z0-9_]+)\s*(?:=|,)/.exec(line);
    if (field && inStruct) docs.set(`${inStruct}.${field[1]}`, text);
    else if (define) docs.set(define[1], text);
    else if (member) docs.set(member[1], text);
  }
  const constants = new Map();
  const known = {};
  const enums = [];
  const structs = [];
  // defines, in order (function-like macros and guards are not constants)
  for (const m of text.matchAll(/^#define\s+([A-Z_][A-Z0-9_]*)\s+(.+?)\s*$/gm)) {
    if (m[1].endsWith('_H')) continue;
    const value = evaluate(m[2], known, `${file}: #define ${m[1]}`);
    known[m[1]] = value;
    constants.set(m[1], value);
  }
  for (const m of text.matchAll(/enum\s+(\w+)\s*\{([^}]*)\}/g)) {
    let next = 0;
    const members = [];
    for (const part of m[2].split(',').map((s) => s.trim()).filter(Boolean)) {
      const [name, expr] = part.split('=').map((s) => s.trim());
      const value = expr === undefined ? next : evaluate(expr, known, `${file}: enum ${m[1]}`);
      known[name] = value;
      members.push([name, value]);
      next = value + 1;
    }
    const prefix = commonPrefix(members.map(([n]) => n));
    enums.push({ name: m[1], prefix, members });
  }
  const byName = new Map();
  for (const m of text.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}\s*;/g)) {
    let offset = 0;
    let align = 1;
    const fields = [];
    for (const decl of m[2].split(';').map((s) => s.trim()).filter(Boolean)) {
      const f = /^(?:_Atomic\s+)?(struct\s+\w+|\w+)\s+(\w+)(?:\[(.+)\])?$/.exec(decl);
      if (!f) throw new Error(`${file}: struct ${m[1]}: cannot read the field '${decl}'`);
      let size;
      let fieldAlign;
      if (f[1].startsWith('struct ')) {
        const inner = byName.get(f[1].slice(7).trim());
        if (!inner) throw new Error(`${file}: struct ${m[1]}.${f[2]}: ${f[1]} is not defined before it in this header`);
        size = inner.size;
        fieldAlign = inner.align;
      } else {
        size = SCALARS[f[1]];
        fieldAlign = size;
        if (!size) throw new Error(`${file}: struct ${m[1]}.${f[2]}: type ${f[1]} is not one the generator lays out`);
      }
      const count = f[3] === undefined ? 1 : evaluate(f[3], known, `${file}: ${m[1]}.${f[2]}`);
      offset = Math.ceil(offset / fieldAlign) * fieldAlign;
      fields.push({ name: f[2], offset, size: size * count });
      offset += size * count;
      align = Math.max(align, fieldAlign);
    }
    const struct = { name: m[1], fields, size: Math.ceil(offset / align) * align, align };
    structs.push(struct);
    byName.set(m[1], struct);
  }
  return { constants, enums, structs, fieldLists: parseFieldLists(raw, file), docs };
}

/**
 * The record field lists: `#define NAME_FIELDS(X) X(width, name) ...`,
 * continued over lines with backslashes; a comment right after `(X)` is the
 * list's doc. Any other function-like macro is refused.
 */
function parseFieldLists(raw, file) {
  const lists = [];
  const joined = raw.replace(/\\\r?\n/g, ' ');
  for (const m of joined.matchAll(/^\s*#\s*define\s+(\w+)\(([^)]*)\)(.*)$/gm)) {
    const [, name, params] = m;
    const where = `${file}: #define ${name}(${params})`;
    if (!/^[A-Z][A-Z0-9_]*_FIELDS$/.test(name) || params.trim() !== 'X') {
      throw new Error(`${where}: not a field list (NAME_FIELDS(X) X(u8, a) X(u16, b) ...), the one function-like macro the generator reads`);
    }
    const doc = /^\s*\/\*\s*(.*?)\s*\*\//.exec(m[3])?.[1];
    const body = stripComments(m[3]).trim();
    const fields = [];
    let rest = body;
    while (rest) {
      const x = /^X\(\s*(\w+)\s*,\s*([A-Za-z_]\w*)\s*\)\s*/.exec(rest);
      if (!x) throw new Error(`${where}: cannot read '${rest.split(/\s+/)[0]}' (entries are X(width, name))`);
      if (!WIDTHS.includes(x[1])) throw new Error(`${where}: ${x[2]}: width ${x[1]} is not one of ${WIDTHS.join(', ')}`);
      if (fields.some((f) => f.name === x[2])) throw new Error(`${where}: ${x[2]} is listed twice`);
      fields.push({ name: x[2], width: x[1] });
      rest = rest.slice(x[0].length);
    }
    if (!fields.length) throw new Error(`${where}: the list is empty`);
    lists.push({ name, doc, fields });
  }
  return lists;
}

function commonPrefix(names) {
  if (names.length < 2) return '';
  let p = names[0];
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  return p.slice(0, p.lastIndexOf('_') + 1);
}

export function tsSource(header, parsed) {
  const doc = (key) => (parsed.docs.has(key) ? `  /** ${parsed.docs.get(key).replace(/\*\//g, '* /')} */\n` : '');
  const out = [
    `// Generated by scripts/gen-protocol.mjs from ${header}: do not edit.`,
    `// The C header is the one source of this contract; change it there and rebuild.`,
    '',
  ];
  for (const [name, value] of parsed.constants) {
    if (parsed.docs.has(name)) out.push(`/** ${parsed.docs.get(name).replace(/\*\//g, '* /')} */`);
    out.push(`export const ${name} = ${value};`);
  }
  for (const e of parsed.enums) {
    out.push('', `/** enum ${e.name} (${header}) */`, `export const ${pascal(e.name)} = {`);
    for (const [name, value] of e.members) {
      if (name.endsWith('_COUNT')) continue;
      out.push(`${doc(name)}  ${name.slice(e.prefix.length)}: ${value},`);
    }
    out.push('} as const;');
  }
  for (const s of parsed.structs) {
    out.push('', `/** struct ${s.name} (${header}): byte offsets, and SIZE */`, `export const ${pascal(s.name)} = {`);
    for (const f of s.fields) {
      if (/^(pad|reserved)\d*$/.test(f.name)) continue;
      out.push(`${doc(`${s.name}.${f.name}`)}  ${f.name}: ${f.offset},`);
    }
    out.push(`  SIZE: ${s.size},`, '} as const;');
  }
  for (const l of parsed.fieldLists) {
    const what = l.doc ? `: ${l.doc.replace(/\*\//g, '* /')}` : '';
    out.push('', `/** ${l.name} (${header})${what}. A record's fixed fields, in order. */`, `export const ${l.name} = [`);
    for (const f of l.fields) out.push(`  ['${f.name}', '${f.width}'],`);
    out.push('] as const;');
  }
  if (parsed.structs.length) {
    out.push('', '/** Every struct above, by its C name (the layout tests walk it). */', 'export const STRUCTS = {');
    for (const s of parsed.structs) out.push(`  ${s.name}: ${pascal(s.name)},`);
    out.push('} as const;');
  }
  return out.join('\n') + '\n';
}

function fieldsSource(header, parsed) {
  const out = [`/* Generated by scripts/gen-protocol.mjs from ${header}: every struct field and size it laid out. */`];
  for (const s of parsed.structs) {
    for (const f of s.fields) if (!/^(pad|reserved)\d*$/.test(f.name)) out.push(`F(${s.name}, ${f.name})`);
    out.push(`S(${s.name})`);
  }
  return out.join('\n') + '\n';
}

function write(file, content) {
  const p = path.join(ROOT, file);
  if (fs.existsSync(p) && fs.readFileSync(p, 'utf8') === content) return false;
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  return true;
}

/** Generate every contract's files; returns how many changed. */
export function generate() {
  let wrote = 0;
  for (const c of CONTRACTS) {
    const parsed = parseHeader(fs.readFileSync(path.join(ROOT, c.header), 'utf8'), c.header);
    wrote += write(c.ts, tsSource(c.header, parsed)) ? 1 : 0;
    if (c.fields) wrote += write(c.fields, fieldsSource(c.header, parsed)) ? 1 : 0;
  }
  return wrote;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  try {
    const wrote = generate();
    if (wrote) console.log(`gen-protocol: ${wrote} file(s) written from the C headers`);
  } catch (e) {
    console.error(`gen-protocol: ${e.message}`);
    process.exit(1);
  }
}
