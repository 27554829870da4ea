/**
 * One program's requests, decoded and carried out: transfers and cancels go
 * to its {@link Transfers}, the synchronous operations (contexts, device
 * lists, open, close, claims, configuration...) run here, on the devices'
 * own serialised operations, checked against the program's policy and
 * audited. Every failure becomes the libusb error the program gets; nothing
 * thrown here escapes.
 * @module
 */
import type { CaptureDevice, CaptureEvent } from '../../usb/capture/tap.js';
import { ErrorCode, TransferStatus } from '../../usb/constants.js';
import { TransportError, describeError, errorCode } from '../../transports/transport.js';
import type { AuditAction, AuditDevice } from '../audit.js';
import type { OpenHandle, SharedDevice } from '../device.js';
import { LW_CTX_NO_DISCOVERY, LW_CTX_SHARED_SIZE, LW_HANDLE_SHARED_SIZE, LwOp, LwReq } from '../protocol.gen.js';
import type { ProgramChannel } from './channel.js';
import type { ProgramHandles } from './handles.js';
import type { Transfers } from './transfers.js';
import type { Answer, Visibility } from './visibility.js';

const KNOWN_OPS = new Set<number>(Object.values(LwOp));

const ACTIONS: Partial<Record<number, AuditAction>> = {
  [LwOp.OPEN]: 'open', [LwOp.CLOSE]: 'close', [LwOp.CLAIM_INTERFACE]: 'claim', [LwOp.RELEASE_INTERFACE]: 'release',
  [LwOp.RESET_DEVICE]: 'reset', [LwOp.SET_CONFIGURATION]: 'set_configuration', [LwOp.SET_ALTSETTING]: 'set_alternate',
  [LwOp.KERNEL_DRIVER_ACTIVE]: 'kernel_driver_active', [LwOp.DETACH_KERNEL_DRIVER]: 'detach_kernel_driver',
  [LwOp.ATTACH_KERNEL_DRIVER]: 'attach_kernel_driver',
};

export class Requests {
  /** Synchronous requests being carried out (the serving loop does not spin meanwhile). */
  pending = 0;

  constructor(
    private readonly channel: ProgramChannel,
    private readonly visibility: Visibility,
    private readonly handles: ProgramHandles,
    private readonly transfers: Transfers,
  ) {}

  /** Carry out one request (its struct lw_req is inside the program's memory). */
  dispatch(ptr: number): void {
    const ch = this.channel;
    const op = ch.field(ptr, LwReq.op);
    try {
      if (!ch.running) {
        if (op === LwOp.SUBMIT) this.transfers.reject(ptr, TransferStatus.NO_DEVICE);
        else ch.reply(ptr, ErrorCode.NO_DEVICE);
        return;
      }
      if (op === LwOp.SUBMIT) {
        this.transfers.submit(ptr, (id) => this.handles.get(id));
        return;
      }
      if (op === LwOp.CANCEL) {
        ch.reply(ptr, this.transfers.cancel(ch.field(ptr, LwReq.arg0), ch.field(ptr, LwReq.arg1)));
        return;
      }
    } catch (e) {
      ch.log(`request ${op} failed: ${describeError(e)}`);
      if (op !== LwOp.SUBMIT) ch.reply(ptr, ErrorCode.OTHER);
      return;
    }
    const action = ACTIONS[op];
    const audit = action ? this.auditTarget(ptr, op) : undefined;
    const captured = ch.capture && this.captureTarget(ptr, op);
    this.pending++;
    let running: Promise<Answer>;
    try {
      running = this.synchronous(ptr, op);
    } catch (e) {
      running = Promise.reject(e);
    }
    running.then((r) => {
      this.pending--;
      if (captured) ch.capture!.annotate(captured.device, captured.event, r.status);
      if (action) ch.host.audit(ch.id, action, audit!, r.status);
      ch.reply(ptr, r.status, r.actual);
    }, (e) => {
      this.pending--;
      if (!(e instanceof TransportError)) ch.log(`operation ${op} failed: ${describeError(e)}`);
      if (captured) ch.capture!.annotate(captured.device, captured.event, errorCode(e));
      if (action) ch.host.audit(ch.id, action, audit!, errorCode(e));
      ch.reply(ptr, ch.running ? errorCode(e) : ErrorCode.NO_DEVICE);
    }).catch((e) => ch.log(`answering request ${op} failed: ${describeError(e)}`));
  }

  /** The device and capture event a control-plane request is (read before it runs: a close forgets the handle). */
  private captureTarget(ptr: number, op: number): { device: CaptureDevice; event: CaptureEvent } | undefined {
    const ch = this.channel;
    const arg0 = ch.field(ptr, LwReq.arg0);
    const arg1 = ch.field(ptr, LwReq.arg1);
    const dev = op === LwOp.OPEN ? ch.host.devices.get(ch.field(ptr, LwReq.dev)) : this.handles.get(ch.field(ptr, LwReq.handle))?.device;
    if (!dev) return undefined;
    let event: CaptureEvent | undefined;
    switch (op) {
      case LwOp.OPEN: event = { kind: 'open' }; break;
      case LwOp.CLOSE: event = { kind: 'close' }; break;
      case LwOp.RESET_DEVICE: event = { kind: 'reset' }; break;
      case LwOp.CLAIM_INTERFACE: event = { kind: 'claim', interface: arg0 }; break;
      case LwOp.RELEASE_INTERFACE: event = { kind: 'release', interface: arg0 }; break;
      case LwOp.SET_CONFIGURATION: event = { kind: 'set_configuration', value: arg0 | 0 }; break;
      case LwOp.SET_ALTSETTING: event = { kind: 'set_alternate', interface: arg0, alternate: arg1 }; break;
      case LwOp.CLEAR_HALT: event = { kind: 'clear_halt', endpoint: arg0 & 0xff }; break;
      case LwOp.DETACH_KERNEL_DRIVER: event = { kind: 'detach_kernel_driver', interface: arg0 }; break;
      case LwOp.ATTACH_KERNEL_DRIVER: event = { kind: 'attach_kernel_driver', interface: arg0 }; break;
      default: return undefined;
    }
    return { device: dev.capture, event };
  }

  /** The device and words an audited request is about (read before it runs: a close forgets the handle). */
  private auditTarget(ptr: number, op: number): { device?: AuditDevice; detail: string } {
    const ch = this.channel;
    const arg0 = ch.field(ptr, LwReq.arg0);
    const arg1 = ch.field(ptr, LwReq.arg1);
    const dev: SharedDevice | undefined = op === LwOp.OPEN
      ? ch.host.devices.get(ch.field(ptr, LwReq.dev))
      : this.handles.get(ch.field(ptr, LwReq.handle))?.device;
    let detail = '';
    if (op === LwOp.OPEN) detail = `device ${ch.field(ptr, LwReq.dev)}`;
    else if (op === LwOp.SET_CONFIGURATION) detail = `configuration ${arg0 | 0}`;
    else if (op === LwOp.SET_ALTSETTING) detail = `interface ${arg0} alternate ${arg1}`;
    else if (op !== LwOp.CLOSE && op !== LwOp.RESET_DEVICE) detail = `interface ${arg0}`;
    return { device: dev?.audit, detail };
  }

  private checkBuffer(buf: number, len: number): void {
    if (!this.channel.mem.valid(buf, len)) {
      throw new TransportError(ErrorCode.INVALID_PARAM, `buffer ${buf}+${len} is outside the program's memory`);
    }
  }

  private async synchronous(ptr: number, op: number): Promise<Answer> {
    if (!KNOWN_OPS.has(op)) throw new TransportError(ErrorCode.NOT_SUPPORTED, `unknown request ${op}`);
    const ch = this.channel;
    const arg0 = ch.field(ptr, LwReq.arg0);
    const arg1 = ch.field(ptr, LwReq.arg1);
    const buf = ch.field(ptr, LwReq.buf);
    const len = ch.field(ptr, LwReq.len);
    switch (op) {
      case LwOp.CTX_ATTACH:
        if (!ch.mem.valid(arg0, LW_CTX_SHARED_SIZE, 4)) throw new TransportError(ErrorCode.INVALID_PARAM, 'bad context block');
        await ch.host.devices.ready;
        if (!ch.running) throw new TransportError(ErrorCode.NO_DEVICE);
        ch.contexts.set(arg0, { ptr: arg0, discovery: !(arg1 & LW_CTX_NO_DISCOVERY), hotplug: [] });
        return { status: 0 };
      case LwOp.CTX_DETACH:
        ch.contexts.delete(arg0);
        return { status: 0 };
      case LwOp.LIST_DEVICES:
        this.checkBuffer(buf, len);
        await ch.host.devices.ready;
        return this.visibility.listDevices(arg0, buf, len);
      case LwOp.NEXT_HOTPLUG:
        this.checkBuffer(buf, len);
        return this.visibility.nextHotplug(arg0, buf, len);
      case LwOp.GET_STRING:
        this.checkBuffer(buf, len);
        return this.visibility.getString(this.visibility.device(ch.field(ptr, LwReq.dev)), arg0, buf, len);
      case LwOp.GET_CONFIGURATION:
        return { status: 0, actual: this.visibility.device(ch.field(ptr, LwReq.dev)).configurationValue() };
      case LwOp.OPEN: {
        if (!ch.mem.valid(arg0, LW_HANDLE_SHARED_SIZE, 4)) throw new TransportError(ErrorCode.INVALID_PARAM, 'bad handle block');
        const dev = this.visibility.device(ch.field(ptr, LwReq.dev));
        if (ch.policy && !(await ch.policy.mayOpen(dev.facts, ch.id))) {
          throw new TransportError(ErrorCode.ACCESS, 'the embedding application denied opening the device');
        }
        return { status: 0, actual: (await this.handles.open(dev, arg0)).id };
      }
      case LwOp.CLOSE: {
        // a handle to a device that is gone still has to be cleaned up
        const h = this.handles.get(ch.field(ptr, LwReq.handle));
        if (h) await this.handles.close(h);
        return { status: 0 };
      }
      default:
        return this.onHandle(this.handles.usable(ch.field(ptr, LwReq.handle)), op, arg0, arg1);
    }
  }

  /** An operation on an open handle, carried out by its device. */
  private async onHandle(h: OpenHandle, op: number, arg0: number, arg1: number): Promise<Answer> {
    const dev = h.device;
    switch (op) {
      case LwOp.SET_CONFIGURATION:
        await dev.setConfiguration(h, arg0 | 0);
        return { status: 0 };
      case LwOp.CLAIM_INTERFACE:
        await dev.claim(h, arg0);
        return { status: 0 };
      case LwOp.RELEASE_INTERFACE:
        await dev.release(h, arg0);
        return { status: 0 };
      case LwOp.SET_ALTSETTING:
        await dev.setAlternate(h, arg0, arg1);
        return { status: 0 };
      case LwOp.CLEAR_HALT:
        await dev.clearHalt(h, arg0);
        return { status: 0 };
      case LwOp.RESET_DEVICE:
        // a device that came back as another one: libusb says LIBUSB_ERROR_NOT_FOUND
        return { status: (await dev.reset(h)) === 'same' ? 0 : ErrorCode.NOT_FOUND };
      case LwOp.KERNEL_DRIVER_ACTIVE:
        return { status: 0, actual: (await dev.kernelDriverActive(h, arg0)) ? 1 : 0 };
      case LwOp.DETACH_KERNEL_DRIVER:
        this.checkClaimable(h, arg0);
        await dev.detachKernelDriver(h, arg0);
        return { status: 0 };
      case LwOp.ATTACH_KERNEL_DRIVER:
        await dev.attachKernelDriver(h, arg0);
        return { status: 0 };
      default:
        throw new TransportError(ErrorCode.NOT_SUPPORTED, `unknown request ${op}`);
    }
  }

  /** Under a policy, a kernel driver may be detached only from an interface the program could claim. */
  private checkClaimable(h: OpenHandle, iface: number): void {
    if (!this.handles.mayHold(h.device, h.device.configurationValue(), iface)) {
      throw new TransportError(ErrorCode.ACCESS, `interface ${iface} is of a class the policy blocks`);
    }
  }
}
