/**
 * The API reference: `npm run docs` (typedoc, typedoc.json) builds from the
 * sources with every public symbol documented. typedoc.json makes a missing
 * comment, a broken link or an unexported type an error, so this fails the
 * day someone exports something undocumented.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const exec = promisify(execFile);

it('typedoc documents every public symbol of every entry point', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-docs-'));
  try {
    const r = await exec(process.execPath, [path.join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out],
      { cwd: ROOT, timeout: 240_000 }).catch((e) => e);
    const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    expect(log).not.toMatch(/\[warning\]|\[error\]/);
    expect(r.code ?? 0).toBe(0);
    const modules = fs.readdirSync(path.join(out, 'modules')).join(' ');
    for (const m of ['api_node', 'api_browser', 'runner_node', 'runner_browser', 'sim', 'sim_transport', 'transports_webusb', 'transports_node']) {
      expect(modules).toContain(m);
    }
    const context = fs.readFileSync(path.join(out, 'classes/api_node.Context.html'), 'utf8');
    expect(context).toContain('getDeviceList');
    expect(context).toContain('libusb_get_device_list');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 300_000);
