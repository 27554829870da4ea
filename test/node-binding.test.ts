/**
 * The node transport's layer over the `usb` package's native calls
 * (ts/transports/node/binding.ts): how it queues transfers per endpoint,
 * renews IN transfers, cancels queued OUT transfers, lets go of endpoints,
 * and reads the binding's errors. The binding's native calls are played by
 * a script here (they need a device); test/qemu/ runs the real thing.
 */
import { describe, expect, it } from 'vitest';
import { BindingDevice, GRACE_MS, SLICE_MS, classify, errorName, type UsbPackageDevice } from '../ts/transports/node/binding.js';
import type { TransferRequest } from '../ts/transports/transport.js';
import { TransferType } from '../ts/usb/constants.js';

interface Call { kind: string; endpoint: number; timeout: number; settle: (v: unknown) => void; fail: (e: Error) => void }

/** The native calls of a `usb` package device, answered by the test. */
function scripted() {
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
  return { raw, calls, device: new BindingDevice(raw, { onLost: () => {} }) };
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
