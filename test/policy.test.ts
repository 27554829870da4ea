/**
 * The sandbox policy's decisions on their own: WebUSB-style filters, the
 * protected interface classes, grants and revocations.
 */
import { describe, expect, it } from 'vitest';
import { Policy } from '../ts/host/policy.js';
import { PROTECTED_CLASSES, checkFilter, deviceFacts, matchesFilter } from '../ts/usb/filters.js';
import { LoopbackDevice } from '../ts/sim/models/loopback.js';
import { MassStorageDevice } from '../ts/sim/models/mass-storage.js';

const facts = (d: { descriptors: { device: Uint8Array; configurations: Uint8Array[] } }, serial?: string) =>
  deviceFacts(d.descriptors.device, d.descriptors.configurations, serial);
const loopback = facts(new LoopbackDevice(), 'LB0001');
const disk = facts(new MassStorageDevice());

describe('device filters (WebUSB semantics)', () => {
  it('match by vendor, product and serial number', () => {
    expect(matchesFilter(loopback, { vendorId: 0x1209 })).toBe(true);
    expect(matchesFilter(loopback, { vendorId: 0x1209, productId: 0x0001 })).toBe(true);
    expect(matchesFilter(loopback, { vendorId: 0x1209, productId: 0x0002 })).toBe(false);
    expect(matchesFilter(loopback, { serialNumber: 'LB0001' })).toBe(true);
    expect(matchesFilter(loopback, { serialNumber: 'other' })).toBe(false);
    expect(matchesFilter(loopback, {})).toBe(true);
  });

  it('match a class code on the device or on any interface alternate', () => {
    expect(matchesFilter(disk, { classCode: 0x08 })).toBe(true);
    expect(matchesFilter(disk, { classCode: 0x08, subclassCode: 0x06, protocolCode: 0x50 })).toBe(true);
    expect(matchesFilter(disk, { classCode: 0x08, subclassCode: 0x01 })).toBe(false);
    expect(matchesFilter(loopback, { classCode: 0x08 })).toBe(false);
    expect(matchesFilter(loopback, { classCode: 0xff })).toBe(true);
  });

  it('reject malformed filters as WebUSB does', () => {
    expect(() => checkFilter({ productId: 1 })).toThrow(TypeError);
    expect(() => checkFilter({ subclassCode: 1 })).toThrow(TypeError);
    expect(() => checkFilter({ classCode: 1, protocolCode: 1 })).toThrow(TypeError);
    expect(() => new Policy({ grants: [{ productId: 5 }] })).toThrow(TypeError);
  });
});

describe('Policy', () => {
  it('shows every device without grants, only granted ones with them', () => {
    expect(new Policy().visible(disk)).toBe(true);
    const p = new Policy({ grants: [{ vendorId: 0x1209, productId: 0x0001 }] });
    expect(p.visible(loopback)).toBe(true);
    expect(p.visible(disk)).toBe(false);
    p.grant({ classCode: 0x08 });
    expect(p.visible(disk)).toBe(true);
    expect(p.revoke({ classCode: 0x08 })).toBe(true);
    expect(p.visible(disk)).toBe(false);
  });

  it('blocks the protected interface classes by default, and relaxes only when told', () => {
    expect(PROTECTED_CLASSES).toEqual([0x01, 0x03, 0x08, 0x0b, 0x0e, 0x10, 0xe0]);
    expect(new Policy().claimable(disk, 1, 0)).toBe(false);
    expect(new Policy().claimable(loopback, 1, 0)).toBe(true);
    expect(new Policy({ blockedClasses: [] }).claimable(disk, 1, 0)).toBe(true);
  });

  it('asks the application before an open, and a failing answer denies', async () => {
    const asked: string[] = [];
    const p = new Policy({ confirmOpen: (d, program) => (asked.push(`${program}:${d.productId}`), d.productId === 1) });
    expect(await p.mayOpen(loopback, 'prog')).toBe(true);
    expect(await p.mayOpen(disk, 'prog')).toBe(false);
    expect(asked).toEqual(['prog:1', 'prog:2']);
    expect(await new Policy({ confirmOpen: () => { throw new Error('no'); } }).mayOpen(loopback, 'p')).toBe(false);
  });
});
