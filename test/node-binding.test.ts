/**
 * The node transport's layer over the `usb` package's native calls
 * (ts/transports/node/binding.ts): how it queues transfers per endpoint,
 * renews IN transfers, cancels queued OUT transfers, lets go of endpoints,
 * and reads the binding's errors. The binding's native calls are played by
 * a script here (they need a device); test/qemu/ runs the real thing.
 */
import { describe, expect, it, vi } from 'vitest';
import { BindingDevice, GRACE_MS, SLICE_MS, classify, errorName, type UsbPackageDevice } from '../ts/transports/node/binding.js';
import { CLOSE_LIMIT_MS, NodeTransport } from '../ts/transports/node/index.js';
import { NativeCalls } from '../ts/transports/node/native-calls.js';
import { NativeUsb, type UsbNativeEmitter, type UsbNativeModule } from '../ts/transports/node/native-usb.js';
import type { TransferRequest } from '../ts/transports/transport.js';
import { TransferType } from '../ts/usb/constants.js';

interface Call { kind: string; endpoint: number; timeout: number; settle: (v: unknown) => void; fail: (e: Error) => void }

/** The native calls of a `usb` package device, answered by the test. */
function scripted(counter?: NativeCalls) {
  const calls: Call[] = [];
  let pending = 0;
  const native = (kind: string) => (endpoint: number, timeout: number) => {
    pending++;
    return new Promise((settle, fail) => {
      calls.push({ kind, endpoint, timeout, settle, fail });
    }).finally(() => pending--);
  };
  // the binding's borrow rule: no call that changes the object while a transfer is pending
  const mutating = async () => {
    if (pending) throw new Error('The same native value cannot be borrowed mutably while another borrow is active');
  };
  const raw = {
    nativeTransferIn: native('in'),
    nativeTransferOut: native('out'),
    nativeControlTransferIn: (_s: unknown, timeout: number) => native('control-in')(0, timeout),
    nativeControlTransferOut: (_s: unknown, timeout: number, data?: Uint8Array) => {
      if (!data) throw new TypeError('no data'); // what usb@3.1.0's wrapper does
      return native('control-out')(0, timeout);
    },
    claimInterface: mutating,
    releaseInterface: mutating,
  } as unknown as UsbPackageDevice;
  return { raw, calls, device: new BindingDevice(raw, { onLost: () => {}, calls: counter }) };
}

/** The package's native exports (nativeGetDevices, Emitter), answered by the test. */
function scriptedModule() {
  const listings: { settle: (v: UsbPackageDevice[]) => void }[] = [];
  const log: string[] = [];
  let attach: ((d: UsbPackageDevice) => void) | undefined;
  let detach: ((h: string) => void) | undefined;
  const later = (what: string) => {
    log.push(what);
    return new Promise<void>((r) => setImmediate(r));
  };
  class Emitter implements UsbNativeEmitter {
    addAttach(cb: (d: UsbPackageDevice) => void) { attach = cb; return later('addAttach'); }
    removeAttach() { attach = undefined; return later('removeAttach'); }
    addDetach(cb: (h: string) => void) { detach = cb; return later('addDetach'); }
    removeDetach() { detach = undefined; return later('removeDetach'); }
  }
  const native: UsbNativeModule = {
    nativeGetDevices: () => new Promise((settle) => listings.push({ settle })),
    Emitter,
  };
  return { native, listings, log, attach: (d: UsbPackageDevice) => attach?.(d), detach: (h: string) => detach?.(h) };
}

/** Turns of the event loop (no time passes on a fake clock). */
async function turns(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function request(endpoint: number, timeout: number, type: number = TransferType.BULK): TransferRequest {
  return { type, endpoint, length: 8, zeroLengthPacket: false, timeout } as TransferRequest;
}

describe('node transport: the usb package binding layer', () => {
  it('sorts the binding errors', () => {
    expect(classify('transferIn error: Stall')).toBe('stall');
    expect(classify('controlTransferIn error: endpoint stalled')).toBe('stall');
    expect(classify('transferIn error: Cancelled')).toBe('timeout');
    expect(classify('transferIn error: Disconnected')).toBe('gone');
    expect(classify('controlTransferIn error: device disconnected')).toBe('gone');
    expect(classify('transferIn error: Fault')).toBe('other');
    expect(errorName('claimInterface error: interface is busy (errno 16)')).toBe('InvalidStateError');
    expect(errorName('open error: permission denied (errno 13)')).toBe('SecurityError');
    expect(errorName('selectConfiguration error: invalid configuration')).toBe('NotFoundError');
    expect(errorName('isochronousTransferIn error: method not implemented')).toBe('NotSupportedError');
  });

  it("gives the binding the program's timeout plus a grace, or none", async () => {
    const { device, calls } = scripted();
    void device.forRequest(request(0x02, 500)).transferOut(2, new Uint8Array(4));
    void device.forRequest(request(0x03, 0)).transferOut(3, new Uint8Array(4));
    void device.forRequest(request(0x00, 0, TransferType.CONTROL)).controlTransferOut(
      { requestType: 'vendor', recipient: 'device', request: 1, value: 0, index: 0 });
    await tick();
    expect(calls.map((c) => `${c.kind} ${c.timeout}`).sort()).toEqual([`control-out ${0xffffffff}`, `out ${0xffffffff}`, `out ${500 + GRACE_MS}`]);
  });

  it('sends control OUT without data as an empty array (usb@3.1.0 throws on none)', async () => {
    const { device, calls } = scripted();
    const r = device.forRequest(request(0, 100, TransferType.CONTROL)).controlTransferOut(
      { requestType: 'class', recipient: 'interface', request: 0x0a, value: 0, index: 0 });
    await tick();
    calls[0].settle(0);
    expect(await r).toEqual({ status: 'ok', bytesWritten: 0 });
  });

  it('queues transfers on one endpoint and runs them in order', async () => {
    const { device, calls } = scripted();
    const a = device.forRequest(request(0x02, 0)).transferOut(2, new Uint8Array([1]));
    const b = device.forRequest(request(0x02, 0)).transferOut(2, new Uint8Array([2]));
    const c = device.forRequest(request(0x04, 0)).transferOut(4, new Uint8Array([3]));
    await tick();
    // one at a time on endpoint 2; endpoint 4 is free
    expect(calls.map((x) => x.endpoint)).toEqual([2, 4]);
    calls[0].settle(1);
    expect(await a).toEqual({ status: 'ok', bytesWritten: 1 });
    await tick();
    expect(calls.map((x) => x.endpoint)).toEqual([2, 4, 2]);
    calls[2].settle(1);
    calls[1].settle(1);
    expect((await b).status).toBe('ok');
    expect((await c).status).toBe('ok');
  });

  it('takes a cancelled OUT transfer off the queue before it reaches the device', async () => {
    const { device, calls } = scripted();
    const first = request(0x02, 0);
    const second = request(0x02, 0);
    const a = device.forRequest(first).transferOut(2, new Uint8Array([1]));
    const b = device.forRequest(second).transferOut(2, new Uint8Array([2]));
    await tick();
    expect(device.cancelQueued(first)).toBe(false); // already with the binding
    expect(device.cancelQueued(second)).toBe(true);
    await expect(b).rejects.toMatchObject({ name: 'AbortError' });
    calls[0].settle(1);
    await a;
    await tick();
    expect(calls.length).toBe(1); // the cancelled one never went out
  });

  it('renews an IN transfer whose binding slice ran out, and reports a stall as a status', async () => {
    const { device, calls } = scripted();
    const r = device.forRequest(request(0x81, 0)).transferIn(1, 8);
    await tick();
    expect(calls[0].timeout).toBe(SLICE_MS);
    calls[0].fail(new Error('transferIn error: Cancelled'));
    await tick();
    await tick();
    expect(calls.length).toBe(2);
    calls[1].settle(new Uint8Array([9, 8, 7]));
    const got = await r;
    expect(got.status).toBe('ok');
    expect(new Uint8Array(got.data!.buffer, got.data!.byteOffset, got.data!.byteLength)).toEqual(new Uint8Array([9, 8, 7]));

    const s = device.forRequest(request(0x81, 100)).transferIn(1, 8);
    await tick();
    expect(calls[2].timeout).toBe(100 + GRACE_MS);
    calls[2].fail(new Error('transferIn error: Stall'));
    expect(await s).toEqual({ status: 'stall' });
  });

  it('lets go of an endpoint when asked: its IN transfer ends as aborted at the end of its slice', async () => {
    const { device, calls } = scripted();
    const r = device.forRequest(request(0x81, 0)).transferIn(1, 8);
    await tick();
    const quiet = device.quiesce([0x81]);
    calls[0].fail(new Error('transferIn error: Cancelled'));
    await expect(r).rejects.toMatchObject({ name: 'AbortError' });
    await quiet;
    expect(calls.length).toBe(1); // not renewed
  });

  it('claims an interface while an IN transfer waits: pauses its renewal, then resumes it', async () => {
    const { device, calls } = scripted();
    const r = device.forRequest(request(0x81, 0)).transferIn(1, 8);
    await tick();
    const claim = device.claimInterface(1);
    await tick();
    calls[0].fail(new Error('transferIn error: Cancelled')); // its slice ends
    await claim; // ran with nothing in flight
    await tick();
    await tick();
    expect(calls.length).toBe(2); // renewed after the claim
    calls[1].settle(new Uint8Array([5]));
    expect((await r).status).toBe('ok');
  });

  it('reports an OUT transfer the binding timed out as a timeout', async () => {
    const { device, calls } = scripted();
    const r = device.forRequest(request(0x02, 50)).transferOut(2, new Uint8Array(1));
    await tick();
    calls[0].fail(new Error('transferOut error: Cancelled'));
    await expect(r).rejects.toMatchObject({ name: 'TimeoutError' });
  });
});

// A worker thread must not exit while a call into the binding is pending:
// on Node before 24.14 the call settling afterwards can crash the process
// (ts/transports/node/native-calls.ts).
describe('node transport: no call into the binding outlives closing', () => {
  it('counts calls until they settle, and says when waiting for them gave up', async () => {
    const counter = new NativeCalls();
    let settle!: () => void;
    const p = counter.track(() => new Promise<void>((r) => (settle = r)));
    expect(counter.count).toBe(1);
    await expect(counter.track(() => { throw new Error('bad argument'); })).rejects.toThrow('bad argument');
    expect(counter.count).toBe(1); // nothing reached the binding
    const failing = counter.track(() => Promise.reject(new Error('transferIn error: Stall')));
    await expect(failing).rejects.toThrow('Stall');
    expect(counter.count).toBe(1);
    vi.useFakeTimers();
    try {
      const gaveUp = counter.settled(1000);
      await vi.advanceTimersByTimeAsync(1000);
      expect(await gaveUp).toBe(false);
      const done = counter.settled(1000);
      settle();
      await p;
      expect(await done).toBe(true);
      expect(counter.count).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("waits for a listing the program started and for the hotplug watcher's stop", async () => {
    const m = scriptedModule();
    const counter = new NativeCalls();
    const transport = new NodeTransport(new NativeUsb(m.native, counter), { calls: counter });
    const listing = transport.getDevices();
    await turns();
    expect(m.listings.length).toBe(1);
    let closed = false;
    const closing = transport.close().then(() => (closed = true));
    await turns();
    // the watcher was stopped, the listing is still out: not closed yet
    expect(m.log).toEqual(['addAttach', 'addDetach', 'removeAttach', 'removeDetach']);
    expect(closed).toBe(false);
    m.listings[0].settle([]);
    await closing;
    expect(await listing).toEqual([]);
    expect(counter.count).toBe(0);
  });

  it('waits for a transfer still in the binding when a device is closed', async () => {
    const counter = new NativeCalls();
    const { device, calls } = scripted(counter);
    // an OUT transfer without a timeout: the binding holds it until the device answers
    const out = device.forRequest(request(0x02, 0)).transferOut(2, new Uint8Array(4));
    await tick();
    expect(counter.count).toBe(1);
    let idle = false;
    const settled = counter.settled(CLOSE_LIMIT_MS).then((v) => (idle = v));
    await turns();
    expect(idle).toBe(false);
    calls[0].settle(4);
    await out;
    await settled;
    expect(idle).toBe(true);
  });

  it('gives up after CLOSE_LIMIT_MS and says why, instead of hanging', async () => {
    vi.useFakeTimers();
    try {
      const m = scriptedModule();
      const counter = new NativeCalls();
      const said: string[] = [];
      const transport = new NodeTransport(new NativeUsb(m.native, counter), { calls: counter, log: (s) => said.push(s) });
      void transport.getDevices(); // never answered
      const closing = transport.close();
      await vi.advanceTimersByTimeAsync(CLOSE_LIMIT_MS + 10);
      await closing;
      expect(said.join('\n')).toMatch(/1 call\(s\) into the usb package still pending/);
    } finally {
      vi.useRealTimers();
    }
  });

  it('hears a device leave while a call of the binding holds its object', async () => {
    // the binding's rule: while a call is pending on an object, reading its properties throws
    let borrowed = false;
    const raw = {
      get handle() {
        if (borrowed) throw new Error('The same native value cannot be borrowed mutably while another borrow is active');
        return 'H1';
      },
      vendorId: 1, productId: 2, bus: '001', address: 3, ports: [1],
    } as unknown as UsbPackageDevice;
    const m = scriptedModule();
    const counter = new NativeCalls();
    const transport = new NodeTransport(new NativeUsb(m.native, counter), { calls: counter });
    const events: string[] = [];
    transport.watch((e) => events.push(e.type));
    const listing = transport.getDevices();
    await turns();
    m.listings[0].settle([raw]);
    expect((await listing).length).toBe(1);
    borrowed = true; // a transfer is pending on it
    m.detach('H1');
    expect(events).toEqual(['disconnect']);
    borrowed = false;
    await transport.close();
  });

  it('reports attach and detach events of the native watcher, by handle', async () => {
    const m = scriptedModule();
    const usb = new NativeUsb(m.native, new NativeCalls());
    const seen: string[] = [];
    const onConnect = (e: { device: unknown }) => seen.push(`connect ${(e.device as UsbPackageDevice).handle}`);
    const onDisconnect = (e: { device: unknown }) => seen.push(`disconnect ${(e.device as UsbPackageDevice).handle}`);
    usb.addEventListener('connect', onConnect);
    usb.addEventListener('disconnect', onDisconnect);
    await turns();
    m.attach({ handle: 'A' } as UsbPackageDevice);
    m.detach('A');
    m.detach('B'); // never seen: nothing to report
    expect(seen).toEqual(['connect A', 'disconnect A']);
    usb.removeEventListener('connect', onConnect);
    expect(m.log).toEqual(['addAttach', 'addDetach']); // one listener left: still watching
    usb.removeEventListener('disconnect', onDisconnect);
    await turns();
    expect(m.log).toEqual(['addAttach', 'addDetach', 'removeAttach', 'removeDetach']);
  });
});
