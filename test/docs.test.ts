/**
 * The documentation: README.md as a front door, every fenced block of it
 * and of docs/*.md marked runnable or not (test/doc-blocks.test.ts runs the
 * runnable ones), every relative link leading somewhere, and the API
 * reference: `npm run docs` (typedoc, typedoc.json) builds from the sources
 * with every public symbol documented, one page per import path, each with
 * an example. typedoc.json makes a missing comment, a broken link or an
 * unexported type an error, so this fails the day someone exports
 * something undocumented.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { allDocBlocks, documents } from './doc-blocks.js';
import { ROOT } from './helpers.js';

const exec = promisify(execFile);

describe('README.md and docs/', () => {
  it('README.md is a front door: about 150 lines, the two commands on its first screen', () => {
    const lines = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
    expect(lines.length).toBeLessThanOrEqual(180);
    const firstScreen = lines.slice(0, 40).join('\n');
    expect(firstScreen).toMatch(/^make demo\b/m);
    expect(firstScreen).toMatch(/^make test\b/m);
    expect(firstScreen).toMatch(/Requirements/);
  });

  it('marks every fenced block runnable, a file for one, or not runnable', () => {
    const blocks = allDocBlocks();
    expect(blocks.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const b of blocks) {
      const where = `${b.doc}:${b.line}`;
      if (b.marker.kind === 'unmarked') problems.push(`${where}: a \`\`\`${b.lang} block without <!-- run: ... -->, <!-- file: ... --> or <!-- not run: why -->`);
      if (b.marker.kind === 'malformed') problems.push(`${where}: cannot read ${b.marker.comment}`);
      if (b.marker.kind === 'run' && !['sh', 'js'].includes(b.lang)) problems.push(`${where}: only sh and js blocks run, not ${b.lang}`);
      if (b.marker.kind === 'run-in-browser' && b.lang !== 'js') problems.push(`${where}: test/browser-docs.test.ts runs js blocks only`);
    }
    // a file block is written for the next block that runs in its document
    for (const doc of documents()) {
      const own = blocks.filter((b) => b.doc === doc);
      const lastRun = Math.max(-1, ...own.map((b, i) => (b.marker.kind === 'run' ? i : -1)));
      own.forEach((b, i) => {
        if (b.marker.kind === 'file' && i > lastRun) problems.push(`${doc}:${b.line}: a file block no runnable block follows`);
      });
    }
    expect(problems).toEqual([]);
    // the quick starts are among the blocks that run
    const readmeRuns = blocks.filter((b) => b.doc === 'README.md' && b.marker.kind === 'run').map((b) => b.code).join('\n');
    expect(readmeRuns).toContain('npm install ../libusb-wasm/build/libusb-wasm.tgz');
    expect(readmeRuns).toContain('npx libusb-wasm cc');
  });

  it('links only to files and headings that exist', () => {
    const problems: string[] = [];
    for (const doc of documents()) {
      const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [file, anchor] = target.split('#');
        const resolved = file ? path.join(path.dirname(path.join(ROOT, doc)), file) : path.join(ROOT, doc);
        if (!fs.existsSync(resolved)) {
          problems.push(`${doc}: ${target}: no such file`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !headingSlugs(fs.readFileSync(resolved, 'utf8')).includes(anchor)) {
          problems.push(`${doc}: ${target}: no such heading`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

/** GitHub's anchors for a markdown file's headings. */
function headingSlugs(markdown: string): string[] {
  return [...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map(([, title]) =>
    title.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-'));
}

/** Each entry point's page, named by the import path that reaches it. */
const ENTRY_PAGES: Record<string, string> = {
  'libusb-wasm': 'libusb-wasm',
  'libusb-wasm (browsers)': 'libusb-wasm',
  'libusb-wasm/node': 'libusb-wasm/node',
  'libusb-wasm/browser': 'libusb-wasm/browser',
  'libusb-wasm/sim': 'libusb-wasm/sim',
  'libusb-wasm/transports/sim': 'libusb-wasm/transports/sim',
  'libusb-wasm/transports/webusb': 'libusb-wasm/transports/webusb',
  'libusb-wasm/transports/node': 'libusb-wasm/transports/node',
};

it('typedoc documents every public symbol of every entry point, one page per import path with an example', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-docs-'));
  try {
    const r = await exec(process.execPath, [path.join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out, '--json', path.join(out, 'docs.json')],
      { cwd: ROOT, timeout: 240_000 }).catch((e) => e);
    const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    expect(log).not.toMatch(/\[warning\]|\[error\]/);
    expect(r.code ?? 0).toBe(0);
    const project = JSON.parse(fs.readFileSync(path.join(out, 'docs.json'), 'utf8')) as {
      children: { name: string; kind: number; comment?: { summary: { kind: string; text: string }[] } }[];
    };
    const modules = project.children.filter((c) => c.kind === 2 /* Module */);
    expect(modules.map((m) => m.name).sort()).toEqual(Object.keys(ENTRY_PAGES).sort());
    for (const m of modules) {
      const code = (m.comment?.summary ?? []).filter((p) => p.kind === 'code').map((p) => p.text).join('\n');
      expect(code, `${m.name} has no example`).toMatch(/^```(js|ts)\n/m);
      expect(code, `${m.name}'s example does not import it`).toContain(`from '${ENTRY_PAGES[m.name]}'`);
    }
    const pages = fs.readdirSync(path.join(out, 'modules')).join(' ');
    expect(pages).toContain('libusb-wasm_node.html');
    const context = fs.readFileSync(path.join(out, 'classes', fs.readdirSync(path.join(out, 'classes')).find((f) => f.endsWith('.Context.html'))!), 'utf8');
    expect(context).toContain('getDeviceList');
    expect(context).toContain('libusb_get_device_list');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 300_000);
