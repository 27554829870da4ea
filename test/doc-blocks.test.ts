/**
 * Every block of README.md and docs/*.md marked runnable runs here, exactly
 * as written, against the package as `make pack` writes it (the markers:
 * ./doc-blocks.ts). A user following the docs on a machine with nothing but
 * Node, npm and Debian's emcc does what these tests do.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allDocBlocks, plainEnvironment, type BlockPlace, type DocBlock } from './doc-blocks.js';
import { packInto } from './helpers.js';

const exec = promisify(execFile);
/** One block may compile C with emcc under a busy machine's load. */
const BLOCK_TIMEOUT_MS = 300_000;

let scratch = '';
let project = '';

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-doc-blocks-'));
  // where the docs' `../libusb-wasm/build/libusb-wasm.tgz` points from a fresh directory
  const tarball = await packInto(path.join(scratch, 'libusb-wasm/build'));
  project = path.join(scratch, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'doc-blocks', private: true, type: 'module' }));
  await exec('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: project, timeout: 600_000 });
}, 900_000);

afterAll(() => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** A document's fresh directory: empty at first, next to ../libusb-wasm/build/. */
function freshDirectory(doc: string): string {
  const base = path.join(scratch, 'fresh', doc.replace(/[^\w]+/g, '-'));
  const app = path.join(base, 'app');
  if (!fs.existsSync(app)) {
    fs.mkdirSync(app, { recursive: true });
    fs.symlinkSync(path.join(scratch, 'libusb-wasm'), path.join(base, 'libusb-wasm'));
  }
  return app;
}

function directoryOf(place: BlockPlace, doc: string): string {
  return place === 'fresh' ? freshDirectory(doc) : project;
}

async function runBlock(block: DocBlock, dir: string): Promise<{ stdout: string; stderr: string }> {
  const options = { cwd: dir, env: plainEnvironment(), timeout: BLOCK_TIMEOUT_MS - 10_000, maxBuffer: 16 << 20 };
  switch (block.lang) {
    case 'sh':
      return exec('bash', ['-euo', 'pipefail', '-c', block.code], options);
    case 'js': {
      const file = path.join(dir, `block-${block.doc.replace(/[^\w]+/g, '-')}-${block.line}.mjs`);
      fs.writeFileSync(file, block.code);
      return exec(process.execPath, [file], options);
    }
    default:
      throw new Error(`${block.doc}:${block.line}: cannot run a '${block.lang}' block (sh and js run)`);
  }
}

const byDoc = new Map<string, DocBlock[]>();
for (const b of allDocBlocks()) byDoc.set(b.doc, [...(byDoc.get(b.doc) ?? []), b]);

for (const [doc, blocks] of byDoc) {
  if (!blocks.some((b) => b.marker.kind === 'run')) continue;
  describe(doc, () => {
    let files: DocBlock[] = [];
    for (const block of blocks) {
      const { marker } = block;
      if (marker.kind === 'file') files.push(block);
      if (marker.kind !== 'run') continue;
      const inputs = files;
      files = [];
      it(`line ${block.line}: ${block.code.split('\n').find((l) => l.trim() && !l.startsWith('#') && !l.startsWith('//'))?.trim()}`, async () => {
        const dir = directoryOf(marker.place, doc);
        for (const f of inputs) if (f.marker.kind === 'file') fs.writeFileSync(path.join(dir, f.marker.name), f.code + '\n');
        const r = await runBlock(block, dir).catch((e) => {
          throw new Error(`${doc}:${block.line} failed (exit ${e.code ?? e.signal}):\n${e.stdout ?? ''}${e.stderr ?? ''}`);
        });
        for (const text of marker.expect) expect(r.stdout, `${doc}:${block.line} printed:\n${r.stdout}${r.stderr}`).toContain(text);
      }, BLOCK_TIMEOUT_MS);
    }
  });
}
