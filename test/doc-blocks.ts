/**
 * The fenced code blocks of README.md and docs/*.md, with what the HTML
 * comment just before each says about it:
 *
 *   <!-- run: PLACE -->                 run it (test/doc-blocks.test.ts)
 *   <!-- run: PLACE; expect "TEXT" -->  ...and its output must contain TEXT (repeatable)
 *   <!-- file: NAME -->                 written to NAME before the next block that runs
 *   <!-- run:browser NAME ... -->       run in Chromium by test/browser-docs.test.ts
 *   <!-- run:node+browser NAME ... -->  ...and in Node there too
 *   <!-- not run: WHY -->               not runnable, and why
 *
 * A block whose language is `text` (a picture, a program's output, a
 * configuration file) is not runnable by definition; every other block carries one of the comments
 * (test/docs.test.ts checks). PLACE is where it runs:
 * - `fresh`: an empty directory next to `../libusb-wasm/build/libusb-wasm.tgz`
 *   (what `make pack` writes), one per document, its blocks in order;
 * - `project`: a project with the packed package installed (shared).
 * `sh` blocks run with bash -euo pipefail, `js` blocks as ES modules with
 * node; the environment holds PATH (without node_modules/.bin), HOME and
 * LANG, nothing else.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.js';

/** Where a runnable block runs (see the module's description). */
export type BlockPlace = 'fresh' | 'project';

/** What the comment before a block says. */
export type BlockMarker =
  | { kind: 'run'; place: BlockPlace; expect: string[] }
  | { kind: 'run-in-browser'; name: string }
  | { kind: 'file'; name: string }
  | { kind: 'not-run'; reason: string }
  | { kind: 'picture' }
  | { kind: 'unmarked' }
  | { kind: 'malformed'; comment: string };

/** One fenced block of a document. */
export interface DocBlock {
  /** The document, relative to the repository (README.md, docs/node.md...). */
  doc: string;
  /** Line of the opening fence (1-based). */
  line: number;
  /** The fence's language (sh, js, c...). */
  lang: string;
  /** The block's text, without the fences. */
  code: string;
  marker: BlockMarker;
}

/** README.md and every docs/*.md. */
export function documents(): string[] {
  const docs = fs.existsSync(path.join(ROOT, 'docs'))
    ? fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)
    : [];
  return ['README.md', ...docs];
}

function parseMarker(comment: string | undefined, lang: string): BlockMarker {
  if (lang === 'text') return { kind: 'picture' };
  if (comment === undefined) return { kind: 'unmarked' };
  const body = comment.replace(/^<!--\s*/, '').replace(/\s*-->$/, '');
  const notRun = /^not run:\s*(.+)$/s.exec(body);
  if (notRun) return { kind: 'not-run', reason: notRun[1] };
  const file = /^file:\s*(\S+)$/.exec(body);
  if (file) return { kind: 'file', name: file[1] };
  const inBrowser = /^run:(browser|node\+browser) (\S+)/.exec(body);
  if (inBrowser) return { kind: 'run-in-browser', name: inBrowser[2] };
  const [head, ...clauses] = body.split(';').map((s) => s.trim());
  const run = /^run:\s*(fresh|project)$/.exec(head);
  if (!run) return { kind: 'malformed', comment };
  const expect: string[] = [];
  for (const c of clauses) {
    const m = /^expect\s+"(.*)"$/.exec(c);
    if (!m) return { kind: 'malformed', comment };
    expect.push(m[1]);
  }
  return { kind: 'run', place: run[1] as BlockPlace, expect };
}

/** The fenced blocks of one document, in order. */
export function docBlocks(doc: string): DocBlock[] {
  const lines = fs.readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    // the comment is the last non-blank line before the fence
    let j = start - 1;
    while (j >= 0 && lines[j].trim() === '') j--;
    const comment = j >= 0 && /^<!--.*-->$/.test(lines[j].trim()) ? lines[j].trim() : undefined;
    blocks.push({ doc, line: start + 1, lang: open[1], code: body.join('\n'), marker: parseMarker(comment, open[1]) });
  }
  return blocks;
}

/** Every block of every document. */
export function allDocBlocks(): DocBlock[] {
  return documents().flatMap(docBlocks);
}

/** The environment a block runs in: PATH without node_modules/.bin entries, HOME, LANG; nothing else. */
export function plainEnvironment(): Record<string, string> {
  const pathEntries = (process.env.PATH ?? '').split(':').filter((p) => p && !p.includes('node_modules'));
  return { PATH: pathEntries.join(':'), HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8' };
}
