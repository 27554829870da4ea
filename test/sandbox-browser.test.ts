/**
 * The sandbox in real headless Chromium: the hostile programs of
 * test/c/hostile.c run in their Web Workers against a transport host in a
 * dedicated worker of its own (simulated devices behind navigator.usb's
 * shape, refusing nothing themselves), confined by the policy; the page
 * stays responsive and a kill releases the device within 100 ms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ROOT } from './helpers.js';
import { launchChromium, recordConsole, serve } from './browser.js';

let browser: Browser;
let server: { url: string; close(): Promise<void> };
let page: Page;
let consoleLines: string[];

beforeAll(async () => {
  server = await serve(ROOT);
  browser = await launchChromium();
  page = await browser.newPage();
  consoleLines = recordConsole(page);
  await page.goto(`${server.url}test/fixtures/sandbox.html`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, null, { timeout: 15000 });
}, 60000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

interface Result { code: number; stdout: string; stderr: string; id: string }
interface AuditLike { program: string; action: string; outcome: string; detail: string; device?: { vendorId: number; productId: number } }

/** Run one hostile mode on a fresh host in the page. */
async function hostile(mode: string, policy: string, devices: string[]): Promise<Result & { audit: AuditLike[] }> {
  return page.evaluate(async ([m, p, d]) => {
    const w = window as unknown as Record<string, (...a: unknown[]) => Promise<Result>> & { newHost(d: string[]): { host: { close(): Promise<void> }; audit: AuditLike[] } };
    const h = w.newHost(d);
    try {
      const r = await w.runHostile(h, m, p);
      return { ...r, audit: h.audit };
    } finally {
      await h.host.close();
    }
  }, [mode, policy, devices] as const);
}

const lines = (s: string) => s.split('\n');
const DEVICES = ['loopback', 'msc', 'fx2', 'hid'];

describe('hostile programs under a policy (Chromium)', () => {
  it('walk: only granted devices, no protected class', async () => {
    const r = await hostile('walk', 'vendor1209', DEVICES);
    expect(r.code, r.stdout + r.stderr + consoleLines.join('\n')).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain('devices 2');
    expect(out).toContain('claim 1209:0001 if0 class ff OK');
    expect(out).toContain('claim 1209:0002 if0 class 08 LIBUSB_ERROR_ACCESS');
    expect(r.stdout).not.toContain('04b4');
    expect(r.audit.some((e) => e.program === r.id && e.action === 'claim' && e.outcome === 'LIBUSB_ERROR_ACCESS')).toBe(true);
    expect(r.audit.some((e) => e.program === r.id && e.action === 'open' && e.outcome === 'SUCCESS')).toBe(true);

    const trusted = await hostile('walk', 'none', DEVICES);
    expect(lines(trusted.stdout)).toContain('devices 4');
    expect(lines(trusted.stdout)).toContain('claim 1209:0002 if0 class 08 OK');
  });

  it('protected: refused by default, allowed when relaxed explicitly', async () => {
    const r = await hostile('protected', 'default', DEVICES);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toContain('claim 1209:0002 if0 class 08 LIBUSB_ERROR_ACCESS');
    expect(lines(r.stdout)).toContain('detach 1209:0002 if0 LIBUSB_ERROR_ACCESS');
    const relaxed = await hostile('protected', 'relaxed', DEVICES);
    expect(lines(relaxed.stdout)).toContain('claim 1209:0002 if0 class 08 OK');
  });

  it('confirmOpen can refuse an open', async () => {
    const r = await hostile('walk', 'noFx2', ['loopback', 'fx2']);
    expect(lines(r.stdout)).toContain('open 1209:0001 OK');
    expect(lines(r.stdout)).toContain('open 04b4:8613 LIBUSB_ERROR_ACCESS');
  });

  it('flood: past the limits, LIBUSB_ERROR_NO_MEM; everything settles', async () => {
    const r = await hostile('flood', 'fifty', ['loopback']);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toContain('submitted 50 refused 4950 (LIBUSB_ERROR_NO_MEM) failed 0');
    expect(lines(r.stdout)).toContain('settled 50 of 50');
  });

  it('malformed: the forger alone is hurt; the host keeps serving', async () => {
    const r = await hostile('malformed', 'default', ['loopback']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(lines(r.stdout)).toContain('still served after forgeries yes');
  });
});

describe('kill switch and grants (Chromium)', () => {
  it('kills a spinning program within 100 ms, the page and the host stay responsive, the device is free at once', async () => {
    const r = await page.evaluate(async () => {
      const w = window as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      const h = w.newHost(['loopback']);
      try {
        const run = w.startHostile(h, 'spin', 'loopback');
        await w.waitFor(run, 'spinning with the interface claimed');
        const ticks0 = w.ticks;
        const pings = [];
        for (let i = 0; i < 5; i++) {
          pings.push(await h.host.ping());
          await new Promise((res) => setTimeout(res, 20));
        }
        const ticked = w.ticks - ticks0;
        const t0 = performance.now();
        await run.p.kill();
        const killMs = performance.now() - t0;
        const code = await run.p.exited;
        const attached = await h.host.programs();
        const next = await w.runHostile(h, 'walk', 'loopback');
        return { killMs, code, ticked, pings: new Set(pings).size, attached, id: run.p.id, next: next.stdout };
      } finally {
        await h.host.close();
      }
    });
    expect(r.killMs).toBeLessThan(100); // the requirement
    expect(r.code).toBe(137);
    expect(r.ticked).toBeGreaterThan(5); // the page's timer kept firing while the program spun
    expect(r.pings).toBe(5); // the host's worker answered
    expect(r.attached).not.toContain(r.id);
    expect(lines(r.next)).toContain('claim 1209:0001 if0 class ff OK');
  });

  it('kills a program that floods the host with requests; the host serves another program meanwhile', async () => {
    const r = await page.evaluate(async () => {
      const w = window as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      const h = w.newHost(['loopback']);
      try {
        const run = w.startHostile(h, 'spam', 'default');
        await w.waitFor(run, 'spamming the host');
        const ticks0 = w.ticks;
        await new Promise((res) => setTimeout(res, 200));
        const ticked = w.ticks - ticks0;
        const ping = await h.host.ping();
        const other = await w.runHostile(h, 'walk', 'loopback');
        const t0 = performance.now();
        await run.p.kill();
        return { killMs: performance.now() - t0, ticked, ping: typeof ping, other: other.stdout, attached: await h.host.programs() };
      } finally {
        await h.host.close();
      }
    });
    expect(r.killMs).toBeLessThan(100); // the requirement
    expect(r.ticked).toBeGreaterThan(5);
    expect(r.ping).toBe('number');
    expect(lines(r.other)).toContain('claim 1209:0001 if0 class ff OK');
    expect(r.attached).toEqual([]);
  });

  it('a grant arrives as a hotplug event; a revocation ends the transfer with NO_DEVICE', async () => {
    const r = await page.evaluate(async () => {
      const w = window as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      const h = w.newHost(['loopback', 'fx2']);
      try {
        const run = w.startHostile(h, 'watch', 'loopback');
        await w.waitFor(run, 'ready');
        await run.p.grant({ vendorId: 0x04b4 });
        await w.waitFor(run, 'arrived 04b4:8613');
        await run.p.revoke({ vendorId: 0x1209, productId: 0x0001 });
        const code = await run.p.exited;
        return { code, ...run.out };
      } finally {
        await h.host.close();
      }
    });
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain('left 1209:0001');
    expect(out).toContain('transfer NO_DEVICE');
    expect(out).toContain('control after revoke LIBUSB_ERROR_NO_DEVICE');
  });
});
