/**
 * The shape of ts/, checked: dependencies between folders point one way,
 * lowest first (ts/usb <- ts/transports <- ts/sim <- ts/host <- ts/runner <-
 * ts/api; ts/sim is a transport and its framework, so ts/host never needs
 * it), no import cycle inside ts/host (type imports included), no file over
 * about 500 lines, and no two exported types share a name.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const TS = path.join(ROOT, 'ts');

/** Each folder's rank: a file may import from its own folder and from folders of lower rank. */
const LAYERS: Record<string, number> = { usb: 0, transports: 1, sim: 2, host: 2, runner: 3, api: 4, types: 0 };
/** Same-rank folders that still must not import each other. */
const FORBIDDEN: [string, string][] = [['host', 'sim'], ['sim', 'host']];
const MAX_LINES = 520;


function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static, type-only, re-exports and dynamic import()), resolved to .ts paths. */
export function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|[^.\w])(?:import|export)\b[^'"`;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|^import\s+['"](\.{1,2}\/[^'"]+)['"]/gm)) {
    const spec = m[1] ?? m[2] ?? m[3];
    out.push(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return out;
}

const folderOf = (file: string) => path.relative(TS, file).split(path.sep)[0];
const FILES = sources(TS);

describe('the structure of ts/', () => {
  it('imports point down the layers', () => {
    const wrong: string[] = [];
    for (const file of FILES) {
      const from = folderOf(file);
      for (const target of importsOf(file)) {
        if (!target.startsWith(TS + path.sep)) continue;
        const to = folderOf(target);
        if (to === from) continue;
        const up = (LAYERS[to] ?? 99) > (LAYERS[from] ?? -1) || FORBIDDEN.some(([a, b]) => a === from && b === to);
        if (up) wrong.push(`${path.relative(ROOT, file)} imports ${path.relative(ROOT, target)} (${from} -> ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the checker sees an upward import (it can fail)', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-structure-'));
    try {
      const f = path.join(tmp, 'x.ts');
      fs.writeFileSync(f, "import type { A } from './a.js';\nexport { B } from '../b.js';\nconst c = await import('./c.js');\n");
      expect(importsOf(f).map((p) => path.basename(p))).toEqual(['a.ts', 'b.ts', 'c.ts']);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('no import cycle inside ts/host', () => {
    const host = FILES.filter((f) => folderOf(f) === 'host');
    const edges = new Map(host.map((f) => [f, importsOf(f).filter((t) => host.includes(t))]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const walk = (f: string, stack: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...stack.slice(stack.indexOf(f)), f].map((p) => path.relative(TS, p)).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const t of edges.get(f) ?? []) walk(t, [...stack, f]);
      state.set(f, 'done');
    };
    for (const f of host) walk(f, []);
    expect(cycles).toEqual([]);
  });

  it(`no source file is over ${MAX_LINES} lines`, () => {
    const long = FILES.map((f) => [path.relative(ROOT, f), fs.readFileSync(f, 'utf8').split('\n').length] as const)
      .filter(([, n]) => n > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('no two exported types share a name', () => {
    const where = new Map<string, string[]>();
    for (const file of FILES) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^export\s+(?:declare\s+)?(?:abstract\s+)?(?:interface|type|class|enum)\s+([A-Za-z_]\w*)/gm)) {
        where.set(m[1], [...(where.get(m[1]) ?? []), path.relative(ROOT, file)]);
      }
    }
    const twice = [...where].filter(([, files]) => files.length > 1).map(([name, files]) => `${name}: ${files.join(', ')}`);
    expect(twice).toEqual([]);
  });
});
