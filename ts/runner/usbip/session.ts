/**
 * One imported device on the server: its connection's URBs carried out on
 * the transport, as Linux's usbip-host does it. The device's interfaces are
 * claimed for the importer (kernel drivers detached where the transport has
 * them, as `usbip bind` unbinds them); SET_CONFIGURATION, SET_INTERFACE,
 * CLEAR_FEATURE(ENDPOINT_HALT) and a port reset are done with the
 * transport's own operations rather than passed through (stub_rx.c's
 * "tweaks"); USBIP_CMD_UNLINK cancels for real where the transport can.
 * When the connection ends, transfers are cancelled, interfaces released,
 * drivers given back and the device closed: it is free for the next import.
 * @module
 */
import type { ParsedConfiguration } from '../../usb/config-parse.js';
import { ErrorCode, StandardRequest, TransferStatus, TransferType } from '../../usb/constants.js';
import { decodeSetupPacket } from '../../usb/setup-packet.js';
import { TransportError, errorCode, type SetupPacket, type TransferCompletion, type TransferRequest } from '../../transports/transport.js';
import {
  Direction, PORT_RESET_REQUEST, encodeRetUnlink, fail, retSubmitParts, type CmdSubmit, type CmdUnlink,
} from '../../transports/usbip/protocol.js';
import { Errno } from '../../usb/urb-status.js';
import type { ExportedDevice, ServerLog } from './exports.js';
import { retSubmitOf, transferRequestOf } from './urb-transfer.js';

/** A transport that promised a real cancel gets this long to settle before the unlink is answered anyway. */
const UNLINK_GRACE_MS = 2000;
/** Closing waits this long for cancelled transfers before releasing the device. */
const CLOSE_GRACE_MS = 3000;
/** Bounds on what one importer may have in flight (a hostile client cannot exhaust memory). */
const MAX_URBS_IN_FLIGHT = 1024;
const MAX_BYTES_IN_FLIGHT = 256 * 1024 * 1024;

interface InFlight {
  request: TransferRequest;
  done: Promise<void>;
  /** The CMD_UNLINK that asked for it, once one did. */
  unlinkSeqnum?: number;
  /** Answered already (unlinked without a real cancel): its result is dropped. */
  answered?: boolean;
}

export class ImportSession {
  private readonly inFlight = new Map<number, InFlight>();
  private bytesInFlight = 0;
  private readonly claimed = new Set<number>();
  private readonly detached = new Set<number>();
  private closed = false;

  /**
   * `trace`: a line per command and per reply (the server's --trace), to
   * see what a client asks of a device.
   */
  constructor(readonly exported: ExportedDevice, private readonly send: (parts: Uint8Array[]) => void, private readonly log: ServerLog,
    private readonly trace?: ServerLog) {}

  private get device() {
    return this.exported.device;
  }

  /** Open the device and claim the interfaces of its configuration. */
  async start(): Promise<void> {
    await this.device.open();
    await this.claimAll();
  }

  /** A command from the importer. Throws UsbipProtocolError for one that must end the connection. */
  handle(m: CmdSubmit | CmdUnlink): void {
    this.trace?.(`${this.exported.busid} ${describeCommand(m)}`);
    if (m.devid !== this.exported.devid) fail(`devid 0x${m.devid.toString(16)} in a command for ${this.exported.busid} (devid 0x${this.exported.devid.toString(16)})`);
    if (m.type === 'cmd-unlink') {
      this.unlink(m);
      return;
    }
    if (this.inFlight.has(m.seqnum)) fail(`CMD_SUBMIT seqnum ${m.seqnum} while a URB with that seqnum is in flight`);
    if (this.inFlight.size >= MAX_URBS_IN_FLIGHT) fail(`more than ${MAX_URBS_IN_FLIGHT} URBs in flight`);
    if (this.bytesInFlight + m.transferBufferLength > MAX_BYTES_IN_FLIGHT) fail(`more than ${MAX_BYTES_IN_FLIGHT >> 20} MiB in flight`);
    this.bytesInFlight += m.transferBufferLength;
    const entry: InFlight = { request: undefined!, done: undefined! };
    entry.done = this.submit(m, entry).then((bytes) => {
      this.inFlight.delete(m.seqnum);
      this.bytesInFlight -= m.transferBufferLength;
      if (this.closed || entry.answered) return;
      if (entry.unlinkSeqnum !== undefined) {
        // unlinked while in flight: the unlink is answered, the submit never is (stub_tx.c)
        this.reply(encodeRetUnlink({ seqnum: entry.unlinkSeqnum, status: bytes.urbStatus }), `RET_UNLINK ${entry.unlinkSeqnum} status ${bytes.urbStatus}`);
      } else {
        this.reply(bytes.message, `RET_SUBMIT ${m.seqnum} status ${bytes.urbStatus}, ${bytes.actualLength} bytes`);
      }
    });
    this.inFlight.set(m.seqnum, entry);
  }

  private reply(message: Uint8Array | Uint8Array[], what: string): void {
    this.trace?.(`${this.exported.busid} ${what}`);
    this.send(Array.isArray(message) ? message : [message]);
  }

  /** The connection ended: cancel, release, close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pending = [...this.inFlight.values()];
    for (const p of pending) if (p.request) this.device.cancel?.(p.request);
    await Promise.race([Promise.all(pending.map((p) => p.done)), new Promise((r) => setTimeout(r, CLOSE_GRACE_MS))]);
    await this.releaseAll();
    await this.device.close().catch(() => {});
  }

  private async submit(m: CmdSubmit, entry: InFlight): Promise<ReturnType<typeof answer>> {
    let request: TransferRequest | undefined;
    let setup: SetupPacket | undefined;
    if (m.endpoint === 0) {
      setup = decodeSetupPacket(m.setup);
      request = { type: TransferType.CONTROL, endpoint: m.direction === Direction.IN ? 0x80 : 0, setup, length: m.transferBufferLength,
        data: m.data, zeroLengthPacket: false, timeout: 0 };
    } else {
      const address = m.endpoint | (m.direction === Direction.IN ? 0x80 : 0);
      const type = this.endpointType(address);
      request = type === undefined ? undefined : transferRequestOf(m, type);
      if (!request) {
        const why = type === undefined ? `no endpoint 0x${address.toString(16)} in configuration ${this.device.getConfiguration()}` : 'isochronous packets do not fit';
        this.log(`${this.exported.busid}: CMD_SUBMIT ${m.seqnum}: ${why}`);
        return answer(m, { status: TransferStatus.ERROR }, -Errno.EINVAL);
      }
    }
    entry.request = request;
    let result: TransferCompletion;
    try {
      result = await (setup ? this.control(request, setup) : this.device.transfer(request));
    } catch (e) {
      this.log(`${this.exported.busid}: the transport failed a transfer: ${(e as Error)?.message ?? e}`);
      result = { status: TransferStatus.ERROR };
    }
    return answer(m, result);
  }

  /** Standard requests that change the device's state go through the transport's operations (stub_rx.c's tweaks). */
  private async control(request: TransferRequest, s: SetupPacket): Promise<TransferCompletion> {
    const op = this.intercepted(s);
    if (!op) return this.device.transfer(request);
    try {
      await op();
      return { status: TransferStatus.COMPLETED, data: new Uint8Array(0), bytesWritten: 0 };
    } catch (e) {
      this.log(`${this.exported.busid}: request ${s.bRequest} failed: ${(e as Error)?.message ?? e}`);
      return { status: errorCode(e) === ErrorCode.NO_DEVICE ? TransferStatus.NO_DEVICE : TransferStatus.STALL };
    }
  }

  private intercepted(s: SetupPacket): (() => Promise<unknown>) | undefined {
    const d = this.device;
    if (s.bmRequestType === 0x00 && s.bRequest === StandardRequest.SET_CONFIGURATION) {
      return async () => {
        await this.releaseAll();
        await d.setConfiguration(s.wValue & 0xff);
        await this.claimAll();
      };
    }
    if (s.bmRequestType === 0x01 && s.bRequest === StandardRequest.SET_INTERFACE) return () => d.setAlternateSetting(s.wIndex & 0xff, s.wValue & 0xff);
    if (s.bmRequestType === 0x02 && s.bRequest === StandardRequest.CLEAR_FEATURE && s.wValue === 0) return () => d.clearHalt(s.wIndex & 0xff);
    if (s.bmRequestType === PORT_RESET_REQUEST.bmRequestType && s.bRequest === StandardRequest.SET_FEATURE && s.wValue === PORT_RESET_REQUEST.feature) {
      return async () => {
        // a device that comes back as another one has left: the importer is told it is gone
        if (await d.reset() === 'reenumerated') throw new TransportError(ErrorCode.NO_DEVICE, 'the device re-enumerated after the reset');
      };
    }
    // the address is the server's business: a client's SET_ADDRESS is acknowledged and changes nothing
    if (s.bmRequestType === 0x00 && s.bRequest === StandardRequest.SET_ADDRESS) return async () => {};
    return undefined;
  }

  private unlink(m: CmdUnlink): void {
    const entry = this.inFlight.get(m.unlinkSeqnum);
    if (!entry || entry.unlinkSeqnum !== undefined) {
      // its RET_SUBMIT is sent (or being sent): the unlink came too late
      this.reply(encodeRetUnlink({ seqnum: m.seqnum, status: 0 }), `RET_UNLINK ${m.seqnum} status 0 (too late)`);
      return;
    }
    entry.unlinkSeqnum = m.seqnum;
    const real = entry.request ? this.device.cancel?.(entry.request) ?? false : false;
    const answerNow = () => {
      if (entry.answered || !this.inFlight.has(m.unlinkSeqnum) || this.closed) return;
      entry.answered = true;
      this.reply(encodeRetUnlink({ seqnum: m.seqnum, status: -Errno.ECONNRESET }), `RET_UNLINK ${m.seqnum} status ${-Errno.ECONNRESET}`);
    };
    // without a real cancel the transfer goes on on the device; the importer hears at once, and its result is dropped
    if (!real) answerNow();
    else setTimeout(answerNow, UNLINK_GRACE_MS);
  }

  /** The type of an endpoint of the active configuration (any alternate setting). */
  private endpointType(address: number): number | undefined {
    const config: ParsedConfiguration | undefined = this.exported.configurations.find((c) => c.value === this.device.getConfiguration());
    for (const a of config?.alternates ?? []) {
      const e = a.endpoints.find((x) => x.address === address);
      if (e) return e.type;
    }
    return undefined;
  }

  /** Claim every interface of the active configuration, detaching kernel drivers first. */
  private async claimAll(): Promise<void> {
    const config = this.exported.configurations.find((c) => c.value === this.device.getConfiguration());
    const interfaces = new Set(config?.alternates.map((a) => a.interfaceNumber) ?? []);
    for (const i of interfaces) {
      try {
        if (this.device.kernelDriverActive && await this.device.kernelDriverActive(i)) {
          await this.device.detachKernelDriver!(i);
          this.detached.add(i);
        }
        await this.device.claimInterface(i);
        this.claimed.add(i);
      } catch (e) {
        this.log(`${this.exported.busid}: interface ${i} could not be claimed: ${(e as Error)?.message ?? e}`);
      }
    }
  }

  private async releaseAll(): Promise<void> {
    for (const i of this.claimed) await this.device.releaseInterface(i).catch(() => {});
    this.claimed.clear();
    for (const i of this.detached) await this.device.attachKernelDriver?.(i).catch(() => {});
    this.detached.clear();
  }
}

/** A command in a line, for --trace. */
function describeCommand(m: CmdSubmit | CmdUnlink): string {
  if (m.type === 'cmd-unlink') return `CMD_UNLINK ${m.seqnum} of ${m.unlinkSeqnum}`;
  const setup = m.endpoint === 0 ? ` setup ${Buffer.from(m.setup).toString('hex')}` : '';
  const iso = m.isoPackets ? `, ${m.isoPackets.length} iso packets` : '';
  return `CMD_SUBMIT ${m.seqnum} ep ${m.endpoint} ${m.direction ? 'IN' : 'OUT'} ${m.transferBufferLength} bytes, flags 0x${m.transferFlags.toString(16)}${iso}${setup}`;
}


/** The RET_SUBMIT for a result, and its URB status. */
function answer(m: CmdSubmit, result: TransferCompletion, urbStatus?: number): { message: Uint8Array[]; urbStatus: number; actualLength: number } {
  const ret = retSubmitOf(m, result);
  if (urbStatus !== undefined) ret.status = urbStatus;
  return { message: retSubmitParts(ret), urbStatus: ret.status, actualLength: ret.actualLength };
}
