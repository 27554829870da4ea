/**
 * The sandbox in Node, with the hostile programs of test/c/hostile.c on
 * simulated devices: each is confined as its policy says, the host stays
 * responsive, and a kill releases the device within 100 ms.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent, ProgramHost } from '../ts/runner/node/index.js';
import { TESTS, run, start, until } from './helpers.js';

const { createHost } = (await import('../dist/node.js' as string)) as typeof import('../ts/runner/node/index.js');
const { createContext } = (await import('../dist/api.js' as string)) as typeof import('../ts/api/node.js');

const HOSTILE = path.join(TESTS, 'hostile.js');
const LOOPBACK = { vendorId: 0x1209, productId: 0x0001 };
const FX2 = { vendorId: 0x04b4 };
/** loopback 1209:0001 (vendor class), mass storage 1209:0002, FX2 04b4:8613, HID 04d8:... */
const DEVICES = ['loopback', 'msc', 'fx2', 'hid'];

const lines = (s: string) => s.split('\n');
const hosts: ProgramHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});

describe('hostile programs under a policy (Node, sim transport)', () => {
  it('walk: sees only granted devices, opens them, cannot claim a protected class', async () => {
    const audit: AuditEvent[] = [];
    const r = await run(HOSTILE, {
      args: ['walk'], devices: DEVICES, policy: { grants: [{ vendorId: 0x1209 }] }, onAudit: (e) => audit.push(e),
    });
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain('devices 2');
    expect(out).toContain('open 1209:0001 OK');
    expect(out).toContain('claim 1209:0001 if0 class ff OK');
    expect(out).toContain('open 1209:0002 OK');
    expect(out).toContain('claim 1209:0002 if0 class 08 LIBUSB_ERROR_ACCESS');
    expect(r.stdout).not.toContain('04b4');
    // the audit trail: who did what to which device, denials included
    const claims = audit.filter((e) => e.action === 'claim');
    expect(claims.map((e) => [e.device?.productId, e.detail, e.outcome]).sort()).toEqual([
      [0x0001, 'interface 0', 'SUCCESS'], [0x0001, 'interface 1', 'SUCCESS'], [0x0002, 'interface 0', 'LIBUSB_ERROR_ACCESS'],
    ]);
    expect(new Set(audit.map((e) => e.program)).size).toBe(1);
    expect(audit[0].program).toMatch(/^hostile\.js#\d+$/);
    for (const action of ['open', 'reset', 'set_configuration', 'close'] as const) {
      expect(audit.some((e) => e.action === action && e.device?.vendorId === 0x1209), action).toBe(true);
    }
  });

  it('walk without a policy: a trusted program sees and claims everything, as native libusb', async () => {
    const r = await run(HOSTILE, { args: ['walk'], devices: DEVICES });
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toContain('devices 4');
    expect(lines(r.stdout)).toContain('claim 1209:0002 if0 class 08 OK');
  });

  it('protected: claims and kernel-driver detaches of protected classes are refused by default', async () => {
    const audit: AuditEvent[] = [];
    const r = await run(HOSTILE, { args: ['protected'], devices: DEVICES, policy: {}, onAudit: (e) => audit.push(e) });
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain('detach 1209:0002 if0 LIBUSB_ERROR_ACCESS');
    expect(out).toContain('claim 1209:0002 if0 class 08 LIBUSB_ERROR_ACCESS');
    expect(out.some((l) => /^claim \S+ if0 class 03 LIBUSB_ERROR_ACCESS$/.test(l)), r.stdout).toBe(true);
    expect(audit.filter((e) => e.action === 'detach_kernel_driver').every((e) => e.outcome === 'LIBUSB_ERROR_ACCESS')).toBe(true);

    // relaxing takes an explicit, empty list
    const relaxed = await run(HOSTILE, { args: ['protected'], devices: DEVICES, policy: { blockedClasses: [] } });
    expect(lines(relaxed.stdout)).toContain('claim 1209:0002 if0 class 08 OK');
  });

  it('confirmOpen: the embedding application can refuse an open', async () => {
    const asked: string[] = [];
    const r = await run(HOSTILE, {
      args: ['walk'], devices: ['loopback', 'fx2'],
      policy: {
        confirmOpen: (d, program) => {
          asked.push(`${program} ${d.vendorId.toString(16)}`);
          return d.vendorId !== 0x04b4;
        },
      },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toContain('open 1209:0001 OK');
    expect(lines(r.stdout)).toContain('open 04b4:8613 LIBUSB_ERROR_ACCESS');
    expect(asked).toHaveLength(2);
  });

  it('flood: submits past the limits fail with LIBUSB_ERROR_NO_MEM, and nothing leaks', async () => {
    const byCount = await run(HOSTILE, { args: ['flood'], devices: ['loopback'], policy: { maxTransfersInFlight: 50 } });
    expect(byCount.code, byCount.stderr).toBe(0);
    expect(lines(byCount.stdout)).toContain('submitted 50 refused 4950 (LIBUSB_ERROR_NO_MEM) failed 0');
    expect(lines(byCount.stdout)).toContain('settled 50 of 50');

    const byBytes = await run(HOSTILE, { args: ['flood'], devices: ['loopback'], policy: { maxBytesInFlight: 10 * 16384 } });
    expect(lines(byBytes.stdout)).toContain('submitted 10 refused 4990 (LIBUSB_ERROR_NO_MEM) failed 0');
    expect(lines(byBytes.stdout)).toContain('settled 10 of 10');
  });

  it('malformed: forged requests fail the forger only; the host keeps serving it and others', async () => {
    const host = createHost({ devices: ['loopback'], log: () => {} });
    hosts.push(host);
    const logged: string[] = [];
    const r = await run(HOSTILE, { args: ['malformed'], host, policy: {}, stderr: (l) => logged.push(l) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain('bulk to endpoint 0x8f LIBUSB_ERROR_NOT_FOUND');
    expect(out).toContain('bulk with negative length LIBUSB_ERROR_INVALID_PARAM');
    expect(out).toContain('control with oversized wLength handled');
    expect(out).toContain('still served after forgeries yes');
    // and the next program on the same host is served as usual
    const next = await run(HOSTILE, { args: ['walk'], host, policy: { grants: [LOOPBACK] } });
    expect(lines(next.stdout)).toContain('claim 1209:0001 if0 class ff OK');
  });
});

describe('kill switch', () => {
  it('stops a spinning program with transfers in flight within 100 ms; the device is free at once', async () => {
    const audit: AuditEvent[] = [];
    const host = createHost({ devices: ['loopback'], onAudit: (e) => audit.push(e) });
    hosts.push(host);
    const p = start(HOSTILE, { args: ['spin'], host, policy: { grants: [LOOPBACK] } });
    await p.waitFor('spinning with the interface claimed');
    expect(await host.programs()).toContain(p.id);

    // the host's worker answers while the program spins
    const beats: number[] = [];
    for (let i = 0; i < 5; i++) {
      beats.push(await host.ping());
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(new Set(beats).size).toBe(5);

    const t0 = performance.now();
    await p.kill();
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeLessThan(100); // the requirement
    expect(await host.programs()).not.toContain(p.id);
    expect(await p.exited).toBe(137);

    // a new program opens and claims the same device at once
    const next = await run(HOSTILE, { args: ['walk'], host, policy: { grants: [LOOPBACK] } });
    expect(lines(next.stdout)).toContain('claim 1209:0001 if0 class ff OK');
    expect(audit.filter((e) => e.program === p.id && e.action === 'claim').map((e) => e.outcome)).toEqual(['SUCCESS']);
  });

  it('stops a program that floods the host with requests, the host serving another program meanwhile', async () => {
    const host = createHost({ devices: ['loopback'], log: () => {} });
    hosts.push(host);
    const p = start(HOSTILE, { args: ['spam'], host, policy: {} });
    await p.waitFor('spamming the host');
    await new Promise((r) => setTimeout(r, 200));
    expect(typeof (await host.ping())).toBe('number'); // the host's worker answers while flooded
    const other = await run(HOSTILE, { args: ['walk'], host, policy: { grants: [LOOPBACK] } });
    expect(lines(other.stdout)).toContain('claim 1209:0001 if0 class ff OK');
    const t0 = performance.now();
    await p.kill();
    expect(performance.now() - t0).toBeLessThan(100); // the requirement
    expect(await host.programs()).toEqual([]);
  });

  it('a program that crashes with a claim and transfers in flight is detached; the device is free at once', async () => {
    const audit: AuditEvent[] = [];
    const host = createHost({ devices: ['loopback'], log: () => {}, onAudit: (e) => audit.push(e) });
    hosts.push(host);
    const r = await run(HOSTILE, { args: ['crash'], host, policy: { grants: [LOOPBACK] } });
    expect(r.stdout).toContain('crashing with the interface claimed');
    expect(r.code).not.toBe(0);
    // the program never released or closed anything itself
    expect(audit.map((e) => `${e.action} ${e.outcome}`)).toEqual(['open SUCCESS', 'claim SUCCESS']);
    await until(async () => (await host.programs()).length === 0, 2000, 'the crashed program to be detached');
    const next = await run(HOSTILE, { args: ['walk'], host, policy: { grants: [LOOPBACK] } });
    expect(lines(next.stdout)).toContain('claim 1209:0001 if0 class ff OK');
  });

  it('a program whose worker ends on its own is detached too', async () => {
    const host = createHost({ devices: ['loopback'] });
    hosts.push(host);
    const r = await run(HOSTILE, { args: ['walk'], host, policy: { grants: [LOOPBACK] } });
    expect(r.code).toBe(0);
    await until(async () => (await host.programs()).length === 0, 2000, 'the program to be detached');
  });
});

describe('grants during a run', () => {
  it('a grant arrives as a hotplug event; a revocation ends transfers with NO_DEVICE and releases claims', async () => {
    const host = createHost({ devices: ['loopback', 'fx2'] });
    hosts.push(host);
    const p = start(HOSTILE, { args: ['watch'], host, policy: { grants: [LOOPBACK] } });
    await p.waitFor('ready');
    expect(p.out.stdout).toContain('submit OK');
    expect(p.out.stdout).not.toContain('04b4');

    await p.grant(FX2);
    await p.waitFor('arrived 04b4:8613');

    await p.revoke(LOOPBACK);
    await p.waitFor('left 1209:0001');
    const r = await p.outcome();
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain('transfer NO_DEVICE');
    expect(out).toContain('control after revoke LIBUSB_ERROR_NO_DEVICE');
    // the device is free for the next program
    const next = await run(HOSTILE, { args: ['walk'], host, policy: { grants: [LOOPBACK] } });
    expect(lines(next.stdout)).toContain('claim 1209:0001 if0 class ff OK');
  });
});

describe('the typed JS API under a policy', () => {
  it('createContext({ policy }) sees only the granted devices and cannot claim a protected class', async () => {
    const usb = await createContext({ devices: ['loopback', 'msc', 'fx2'], policy: { grants: [{ vendorId: 0x1209 }] } });
    try {
      const list = await usb.getDeviceList();
      expect(list.map((d) => d.productId).sort()).toEqual([0x0001, 0x0002]);
      const disk = list.find((d) => d.productId === 0x0002)!;
      const h = await disk.open();
      await expect(h.claimInterface(0)).rejects.toMatchObject({ code: -3 });
      await h.close();
    } finally {
      await usb.exit();
    }
  });
});

describe('the CLI', () => {
  it('runs a program confined with --grant, and prints its audit trail with --audit', async () => {
    const { execFile } = await import('node:child_process');
    const { ROOT } = await import('./helpers.js');
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'dist/cli.js'), 'run', '--devices', 'loopback,msc,fx2', '--grant', '1209', '--audit', HOSTILE, '--', 'walk'],
        (e, stdout, stderr) => resolve({ code: e ? (e.code as number) : 0, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toContain('devices 2');
    expect(lines(r.stdout)).toContain('claim 1209:0002 if0 class 08 LIBUSB_ERROR_ACCESS');
    expect(r.stderr).toMatch(/libusb-wasm audit: claim 1209:0002 \(bus \d+ address \d+\) interface 0 -> LIBUSB_ERROR_ACCESS/);
  });
});
