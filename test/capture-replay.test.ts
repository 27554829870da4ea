/**
 * Replay: a program recorded once against a device runs again against the
 * `replay` model built from the capture, with the same output; a request
 * the capture does not have next stalls with one line saying what was
 * expected and what came. The model is also exercised on its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES, TESTS, run } from './helpers.js';
import { CaptureRecorder } from '../ts/usb/capture/recorder.js';
import { ReplayDevice } from '../ts/sim/models/replay.js';
import { createDevice } from '../ts/sim/models/index.js';
import { LoopbackDevice } from '../ts/sim/models/loopback.js';
import { MassStorageDevice } from '../ts/sim/models/mass-storage.js';
import { StandardRequest, TransferStatus, TransferType } from '../ts/usb/constants.js';
import type { CaptureDevice } from '../ts/usb/capture/tap.js';
import type { TransferCompletion, TransferRequest } from '../ts/transports/transport.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-replay-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SEMANTICS = path.join(TESTS, 'transfer_semantics.js');
const ALL_CASES = ['short', 'zlp', 'overflow', 'stall', 'timeout', 'cancel', 'iso', 'iso_ok', 'inflight64', 'unplug'];

describe('replaying a recorded program', () => {
  let semantics: string;
  let recorded: string;
  beforeAll(async () => {
    semantics = path.join(dir, 'semantics.pcapng');
    const r = await run(SEMANTICS, { devices: ['loopback'], capture: semantics });
    recorded = r.stdout;
    expect(r.code).toBe(0);
  });

  it('transfer_semantics passes against its own capture: stalls, timeouts, cancels, iso faults, 64 in flight, the unplug', async () => {
    expect(recorded).toBe(ALL_CASES.map((c) => `PASS ${c}\n`).join(''));
    const r = await run(SEMANTICS, { devices: [`replay:file=${semantics}`] });
    expect(r.stderr).not.toMatch(/replay/);
    expect(r.stdout).toBe(recorded);
    expect(r.code).toBe(0);
    // every captured transfer was used, none refused
    expect(r.devices[0]).toMatchObject({ replay: true, mismatches: 0, left: {} });
  });

  it('xusb on the mass-storage model gives the same output from its capture', async () => {
    const file = path.join(dir, 'xusb.pcapng');
    const first = await run(path.join(EXAMPLES, 'xusb.js'), { devices: ['msc'], args: ['1209:0002'], capture: file });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Reading Max LUN');
    const again = await run(path.join(EXAMPLES, 'xusb.js'), { devices: [{ model: 'replay', options: { file: new Uint8Array(fs.readFileSync(file)) } }], args: ['1209:0002'] });
    expect(again.stderr).toBe('');
    expect(again.stdout).toBe(first.stdout);
    expect(again.code).toBe(0);
  });

  it('a request the capture does not have fails with a stall and one line saying what was expected and what came', async () => {
    // recorded: the "short" case; replayed: the "zlp" case, which asks the device for something else
    const file = path.join(dir, 'short.pcapng');
    expect((await run(SEMANTICS, { devices: ['loopback'], args: ['short'], capture: file })).code).toBe(0);
    const r = await run(SEMANTICS, { devices: [`replay:file=${file}`], args: ['zlp'] });
    expect(r.stdout).toMatch(/^FAIL zlp: queue failed/);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('replay '));
    expect(lines).toEqual([
      'replay 1209:0001 Loopback: control: expected control OUT 40 04 0000 0081 0064 data 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ..., '
      + 'got control OUT 40 04 0001 0081 0200 data 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ...; answering STALL',
    ]);
    expect(r.devices[0]).toMatchObject({ mismatches: 1 });
  });

  it('a capture without the device\'s descriptors, or with several devices, says what to do', async () => {
    const chunks: Uint8Array[] = [];
    const recorder = new CaptureRecorder({ sink: { write: (c) => chunks.push(c) } });
    const tap = recorder.program('p#1');
    const bare: CaptureDevice = { busNumber: 1, deviceAddress: 4 };
    const request = { type: TransferType.BULK, endpoint: 0x81, length: 8, zeroLengthPacket: false };
    tap.submitted(bare, request);
    tap.completed(bare, request, { status: TransferStatus.COMPLETED, data: new Uint8Array(8) });
    const noDescriptors = new Uint8Array(Buffer.concat(chunks));
    expect(() => new ReplayDevice({ file: noDescriptors })).toThrow(/no device descriptor .* record with libusb-wasm/);

    const two = path.join(dir, 'two.pcapng');
    expect((await run(path.join(EXAMPLES, 'listdevs.js'), { devices: ['loopback', 'hid'], capture: two })).code).toBe(0);
    const bytes = new Uint8Array(fs.readFileSync(two));
    expect(() => new ReplayDevice({ file: bytes })).toThrow(/several devices \(bus 1 address 1 \(1209:0001\), bus 1 address 2 \(04d8:003f\)\); choose one with address=N/);
    expect(createDevice({ model: 'replay', options: { file: bytes, address: 2 } }).label).toMatch(/^04d8:003f/);
    expect(() => createDevice('replay')).toThrow(/give the capture to replay: file=out.pcapng/);

    // several devices, one of them used by the program: that one
    const chunks2: Uint8Array[] = [];
    const tap2 = new CaptureRecorder({ sink: { write: (c) => chunks2.push(c) } }).program('p#1');
    const lb = new LoopbackDevice();
    const one: CaptureDevice = { busNumber: 1, deviceAddress: 1, descriptors: lb.descriptors };
    const other: CaptureDevice = { busNumber: 1, deviceAddress: 2, descriptors: new MassStorageDevice().descriptors };
    tap2.annotate(one, { kind: 'arrived' });
    tap2.annotate(other, { kind: 'arrived' });
    tap2.annotate(other, { kind: 'open' });
    expect(new ReplayDevice({ file: new Uint8Array(Buffer.concat(chunks2)) }).label).toBe('1209:0002');
    expect(() => new ReplayDevice({ file: new Uint8Array(Buffer.concat(chunks2)), address: 3 })).toThrow(/no device matches address=3/);
  });
});

describe('the replay model on its own', () => {
  /** A capture of a loopback exchange written by the recorder: an OUT, then the IN that echoes it. */
  function loopbackCapture(): Uint8Array {
    const chunks: Uint8Array[] = [];
    const recorder = new CaptureRecorder({ sink: { write: (c) => chunks.push(c) } });
    const tap = recorder.program('p#1');
    const lb = new LoopbackDevice();
    const device: CaptureDevice = { busNumber: 1, deviceAddress: 9, descriptors: lb.descriptors, strings: { product: 'Loopback' } };
    const out = { type: TransferType.BULK, endpoint: 0x01, length: 3, data: new Uint8Array([1, 2, 3]), zeroLengthPacket: false };
    const into = { type: TransferType.BULK, endpoint: 0x81, length: 64, zeroLengthPacket: false };
    tap.submitted(device, into);
    tap.submitted(device, out);
    tap.completed(device, out, { status: TransferStatus.COMPLETED, bytesWritten: 3 });
    tap.completed(device, into, { status: TransferStatus.COMPLETED, data: new Uint8Array([1, 2, 3]) });
    return new Uint8Array(Buffer.concat(chunks));
  }

  it('presents the captured descriptors and answers an IN only after the OUT it answered in the capture', async () => {
    const logs: string[] = [];
    const device = new ReplayDevice({ file: loopbackCapture(), log: (m) => logs.push(m) });
    device.connect();
    const descriptor = device.control({ bmRequestType: 0x80, bRequest: StandardRequest.GET_DESCRIPTOR, wValue: 0x0100, wIndex: 0, wLength: 18 }) as TransferCompletion;
    expect(descriptor.data).toEqual(new LoopbackDevice().descriptors.device);

    const into: TransferRequest = { type: TransferType.BULK, endpoint: 0x81, length: 64, zeroLengthPacket: false, timeout: 0 };
    let answered: TransferCompletion | undefined;
    void Promise.resolve(device.transfer(into)).then((r) => (answered = r));
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBeUndefined(); // the device has not been sent the OUT yet

    const wrong: TransferRequest = { type: TransferType.BULK, endpoint: 0x01, length: 3, data: new Uint8Array([1, 2, 4]), zeroLengthPacket: false, timeout: 0 };
    expect(device.transfer(wrong)).toEqual({ status: TransferStatus.STALL });
    expect(logs).toEqual(['replay 1209:0001 Loopback: endpoint 0x01: expected bulk OUT 3 bytes: 01 02 03, got bulk OUT 3 bytes: 01 02 04; answering STALL']);
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBeUndefined();

    const right = { ...wrong, data: new Uint8Array([1, 2, 3]) };
    expect(device.transfer(right)).toEqual({ status: TransferStatus.COMPLETED, bytesWritten: 3 });
    await new Promise((r) => setTimeout(r, 0));
    expect(answered).toEqual({ status: TransferStatus.COMPLETED, data: new Uint8Array([1, 2, 3]) });

    // the capture is used up on that endpoint
    expect(device.transfer(into)).toEqual({ status: TransferStatus.STALL });
    expect(logs[1]).toBe('replay 1209:0001 Loopback: endpoint 0x81: expected nothing more (the capture\'s 1 transfers there are used up), got bulk IN 64 bytes; answering STALL');
    expect(device.inspect()).toMatchObject({ mismatches: 2, left: {} });
  });

  it('an IN the program asks less of than the device sent is an overflow, as a babbling device', () => {
    const device = new ReplayDevice({ file: loopbackCapture(), log: () => {} });
    device.connect();
    device.transfer({ type: TransferType.BULK, endpoint: 0x01, length: 3, data: new Uint8Array([1, 2, 3]), zeroLengthPacket: false, timeout: 0 });
    const small = device.transfer({ type: TransferType.BULK, endpoint: 0x81, length: 2, zeroLengthPacket: false, timeout: 0 });
    expect(small).toEqual({ status: TransferStatus.OVERFLOW, data: new Uint8Array([1, 2]) });
  });
});
