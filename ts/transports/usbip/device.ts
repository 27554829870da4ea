/**
 * One device of a USB/IP server, as the transport host sees it. Opening it
 * imports it (OP_REQ_IMPORT): from then on the device is this client's, as
 * `usbip attach` makes it the kernel's, and it is configured the way an OS
 * would (usbip-host hands devices over unconfigured, and answers a bulk
 * transfer before SET_CONFIGURATION by dropping the connection). Closing it
 * releases it a moment later (the host's enumeration opens and closes each
 * device, and a program usually opens it right after).
 *
 * Every transfer is a USBIP_CMD_SUBMIT; cancel() is a real cancel
 * (USBIP_CMD_UNLINK). If the connection drops, transfers in flight end with
 * NO_DEVICE and the device has left.
 * @module
 */
import { parseConfiguration, type ParsedConfiguration } from '../../usb/config-parse.js';
import { DescriptorType, ErrorCode, RequestType, StandardRequest, TransferStatus, TransferType } from '../../usb/constants.js';
import {
  TransportError, type DeviceLocation, type ResetOutcome, type SetupPacket, type TransferCompletion, type TransferRequest,
  type TransportDevice,
} from '../transport.js';
import { ImportRefusedError, ImportedConnection, type UrbOutcome } from './client-connection.js';
import { PORT_RESET_REQUEST, type UsbipDeviceInfo } from './protocol.js';
import { Errno } from '../../usb/urb-status.js';
import { libusbSpeedOf } from './speed.js';
import { describeAddress, type UsbipConnector, type UsbipServerAddress } from './stream.js';
import { completionOf, submissionOf, urbInterval } from './transfer-urb.js';

/** How long the device stays imported after the last close (the host's enumeration is followed by a program's open). */
const LINGER_MS = 2000;
/** A control request the transport makes itself (configuration, descriptors) may take this long. */
const CONTROL_TIMEOUT_MS = 5000;
/**
 * Imports refused are retried, this often: after a client lets a device go,
 * usbip-host resets it and refuses imports until that is done (a second or
 * so on a slow machine). The whole open stays within the transport host's
 * deadline for it (5 s by default).
 */
const IMPORT_RETRIES = [250, 500, 1000, 1250];
/**
 * How long after letting a device go it may be missing from the server's
 * list without having left: usbipd lists only devices free to import, and
 * usbip-host resets a device after its client goes.
 */
const RELEASE_GRACE_MS = 10_000;

/** What a device needs from its transport. */
export interface UsbipDeviceContext {
  connect: UsbipConnector;
  address: UsbipServerAddress;
  /** How long the server may take to answer OP_REQ_IMPORT. */
  timeoutMs: number;
  log: (message: string) => void;
  /** The connection ended without being asked to (dropped, refused, broken protocol): the device has left. */
  lost(device: UsbipDevice, reason: Error): void;
  /** An import was refused before the device was ever opened. */
  refused(device: UsbipDevice): void;
}

export class UsbipDevice implements TransportDevice {
  readonly location: DeviceLocation;
  readonly supportsIsochronous = true;
  /** The device as OP_REP_DEVLIST described it. */
  readonly info: UsbipDeviceInfo;
  private readonly context: UsbipDeviceContext;
  private connection?: ImportedConnection;
  private importing?: Promise<ImportedConnection>;
  private lingerTimer?: ReturnType<typeof setTimeout>;
  private configuration: number;
  /** Its configuration descriptors, parsed: read at the first import (they do not change). */
  private configurations: ParsedConfiguration[] = [];
  private readonly claimed = new Set<number>();
  private readonly inFlight = new Map<TransferRequest, number>();
  private everOpened = false;
  private gone = false;
  /** When this client last let the device go. */
  private releasedAt = -Infinity;

  constructor(info: UsbipDeviceInfo, context: UsbipDeviceContext) {
    this.info = info;
    this.context = context;
    this.configuration = info.configurationValue;
    const ports = /^\d+-(\d+(?:\.\d+)*)$/.exec(info.busid)?.[1].split('.').map(Number);
    const address = Math.min(127, Math.max(1, info.devnum));
    this.location = {
      busNumber: Math.min(255, Math.max(1, info.busnum)),
      portNumbers: ports ?? [address],
      deviceAddress: address,
      speed: libusbSpeedOf(info.speed),
    };
  }

  /** For messages: "busid on server". */
  get label(): string {
    return `${this.info.busid} on ${describeAddress(this.context.address)}`;
  }

  /**
   * Whether this client has the device now, is importing it, or let it go
   * a moment ago: the server's list may leave it out meanwhile (usbipd lists
   * only free devices), which is not a departure.
   */
  get heldHere(): boolean {
    return (this.connection?.open ?? false) || this.importing !== undefined || performance.now() - this.releasedAt < RELEASE_GRACE_MS;
  }

  async open(): Promise<void> {
    if (this.gone) throw new TransportError(ErrorCode.NO_DEVICE, `${this.label} has left`);
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (this.connection?.open) return;
    this.importing ??= this.importAndConfigure().finally(() => (this.importing = undefined));
    this.connection = await this.importing;
    this.everOpened = true;
  }

  async close(): Promise<void> {
    this.claimed.clear();
    clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(() => this.release(), LINGER_MS);
  }

  /** Give the device back to the server now (closing the connection). */
  release(): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    const c = this.connection;
    this.connection = undefined;
    if (c) this.releasedAt = performance.now();
    c?.close();
  }

  /** The server no longer lists it, or the transport is closing. */
  markGone(): void {
    this.gone = true;
    this.release();
  }

  getConfiguration(): number {
    return this.configuration;
  }

  async setConfiguration(value: number): Promise<void> {
    await this.standardRequest(RequestType.RECIPIENT_DEVICE, StandardRequest.SET_CONFIGURATION, value, 0, 'configuration');
    this.configuration = value;
  }

  async claimInterface(iface: number): Promise<void> {
    this.connected();
    const config = this.configurations.find((c) => c.value === this.configuration);
    if (config && !config.alternates.some((a) => a.interfaceNumber === iface)) {
      throw new TransportError(ErrorCode.NOT_FOUND, `configuration ${this.configuration} has no interface ${iface}`);
    }
    this.claimed.add(iface);
  }

  async releaseInterface(iface: number): Promise<void> {
    this.connected();
    this.claimed.delete(iface);
  }

  async setAlternateSetting(iface: number, alternate: number): Promise<void> {
    await this.standardRequest(RequestType.RECIPIENT_INTERFACE, StandardRequest.SET_INTERFACE, alternate, iface, 'alternate setting');
  }

  async clearHalt(endpoint: number): Promise<void> {
    await this.standardRequest(RequestType.RECIPIENT_ENDPOINT, StandardRequest.CLEAR_FEATURE, 0, endpoint, 'endpoint');
  }

  /**
   * usbip-host resets the device for SET_FEATURE(PORT_RESET) and restores
   * its configuration: the same device. A device that did not come back as
   * itself is gone (libusb: NOT_FOUND).
   */
  async reset(): Promise<ResetOutcome> {
    this.connected();
    const port = this.location.portNumbers.at(-1) ?? 0;
    const r = await this.control({
      bmRequestType: PORT_RESET_REQUEST.bmRequestType, bRequest: StandardRequest.SET_FEATURE, wValue: PORT_RESET_REQUEST.feature, wIndex: port, wLength: 0,
    });
    if (r.status === TransferStatus.NO_DEVICE) return 'reenumerated';
    if (r.status !== TransferStatus.COMPLETED) throw new TransportError(ErrorCode.NOT_SUPPORTED, `the server did not reset ${this.label}`);
    return 'same';
  }

  transfer(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    const connection = this.connection;
    if (!connection?.open) return { status: TransferStatus.NO_DEVICE };
    const endpoint = this.endpointInfo(request.endpoint);
    const interval = urbInterval(request.type, endpoint?.interval, this.location.speed);
    const { seqnum, outcome } = connection.submit(submissionOf(request, interval));
    this.inFlight.set(request, seqnum);
    return outcome.then((o) => {
      this.inFlight.delete(request);
      const completion = completionOf(request, o);
      if (completion.status === TransferStatus.COMPLETED && request.type === TransferType.CONTROL) this.trackStandard(request.setup!);
      return completion;
    });
  }

  /** USBIP_CMD_UNLINK: the transfer settles when the server answers (the host waits a while for it). */
  cancel(request: TransferRequest): boolean {
    const seqnum = this.inFlight.get(request);
    if (seqnum !== undefined) this.connection?.unlink(seqnum);
    // not in flight: its outcome is on its way (a settling promise), so it settles promptly either way
    return true;
  }

  // ---- import --------------------------------------------------------------

  private async importAndConfigure(): Promise<ImportedConnection> {
    const connection = await this.importWithRetries();
    connection.ended.then((reason) => {
      if (reason && this.connection === connection) {
        this.connection = undefined;
        this.context.lost(this, reason);
      }
    });
    try {
      if (!this.configurations.length) this.configurations = await this.readConfigurations(connection);
      this.configuration = connection.device.configurationValue;
      // usbip-host hands the device over unconfigured; an OS picks the first configuration
      if (this.configuration === 0 && this.configurations.length) {
        const value = this.configurations[0].value;
        const r = await this.control({ bmRequestType: 0, bRequest: StandardRequest.SET_CONFIGURATION, wValue: value, wIndex: 0, wLength: 0 }, connection);
        if (r.status !== TransferStatus.COMPLETED) throw new Error(`SET_CONFIGURATION ${value} failed (status ${r.status})`);
        this.configuration = value;
      }
    } catch (e) {
      connection.close();
      throw new TransportError(ErrorCode.IO, `usbip: ${this.label}: ${(e as Error).message}`);
    }
    return connection;
  }

  private async importWithRetries(): Promise<ImportedConnection> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await ImportedConnection.open(this.context.connect, this.context.address, this.info.busid, this.context.timeoutMs);
      } catch (e) {
        if (!(e instanceof ImportRefusedError)) throw new TransportError(ErrorCode.IO, (e as Error).message);
        if (attempt >= IMPORT_RETRIES.length) {
          if (!this.everOpened) this.context.refused(this);
          throw new TransportError(ErrorCode.BUSY, e.message);
        }
        await new Promise((r) => setTimeout(r, IMPORT_RETRIES[attempt]));
      }
    }
  }

  /** Every configuration descriptor, for the endpoints' bInterval and the interfaces a configuration has. */
  private async readConfigurations(connection: ImportedConnection): Promise<ParsedConfiguration[]> {
    const out: ParsedConfiguration[] = [];
    for (let i = 0; i < connection.device.numConfigurations; i++) {
      const head = await this.getDescriptor(connection, DescriptorType.CONFIG, i, 9);
      const total = head[2] | (head[3] << 8);
      out.push(parseConfiguration(await this.getDescriptor(connection, DescriptorType.CONFIG, i, total)));
    }
    return out;
  }

  private async getDescriptor(connection: ImportedConnection, type: number, index: number, length: number): Promise<Uint8Array> {
    const r = await this.control({ bmRequestType: 0x80, bRequest: StandardRequest.GET_DESCRIPTOR, wValue: (type << 8) | index, wIndex: 0, wLength: length }, connection);
    if (r.status !== TransferStatus.COMPLETED || !r.data || r.data.length < Math.min(length, 9)) {
      throw new Error(`GET_DESCRIPTOR(${type}, ${index}) failed (status ${r.status}, ${r.data?.length ?? 0} bytes)`);
    }
    // the parser's own buffer, fresh for this reply (a control transfer of the transport's own offers none): no copy needed
    return r.data;
  }

  // ---- control requests of the transport's own -------------------------------

  /** A control transfer with a deadline: unlinked when it passes. */
  private async control(setup: SetupPacket, connection = this.connection): Promise<TransferCompletion> {
    if (!connection?.open) return { status: TransferStatus.NO_DEVICE };
    const request: TransferRequest = {
      type: TransferType.CONTROL, endpoint: setup.bmRequestType & 0x80, setup, length: setup.wLength, zeroLengthPacket: false, timeout: CONTROL_TIMEOUT_MS,
    };
    const { seqnum, outcome } = connection.submit(submissionOf(request, 0));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<UrbOutcome>((resolve) => {
      timer = setTimeout(() => {
        connection.unlink(seqnum);
        resolve({ status: -Errno.ETIMEDOUT, actualLength: 0 });
      }, CONTROL_TIMEOUT_MS);
    });
    try {
      return completionOf(request, await Promise.race([outcome, deadline]));
    } finally {
      clearTimeout(timer);
    }
  }

  /** A standard OUT request with no data; a stall means the target does not exist (NOT_FOUND). */
  private async standardRequest(recipient: number, bRequest: number, wValue: number, wIndex: number, what: string): Promise<void> {
    this.connected();
    const r = await this.control({ bmRequestType: recipient, bRequest, wValue, wIndex, wLength: 0 });
    if (r.status === TransferStatus.COMPLETED) return;
    if (r.status === TransferStatus.NO_DEVICE) throw new TransportError(ErrorCode.NO_DEVICE, `${this.label} has left`);
    if (r.status === TransferStatus.STALL) throw new TransportError(ErrorCode.NOT_FOUND, `no such ${what} (the device stalled)`);
    if (r.status === TransferStatus.TIMED_OUT) throw new TransportError(ErrorCode.TIMEOUT);
    throw new TransportError(ErrorCode.IO, `request ${bRequest} failed (transfer status ${r.status})`);
  }

  private connected(): void {
    if (!this.connection?.open) throw new TransportError(ErrorCode.NO_DEVICE, `${this.label} is not imported (open it first)`);
  }

  /** A program's own SET_CONFIGURATION changes what getConfiguration() answers. */
  private trackStandard(s: SetupPacket): void {
    if (s.bmRequestType === 0 && s.bRequest === StandardRequest.SET_CONFIGURATION) this.configuration = s.wValue & 0xff;
  }

  /** An endpoint of the active configuration (any alternate setting). */
  private endpointInfo(address: number): { interval: number } | undefined {
    const config = this.configurations.find((c) => c.value === this.configuration);
    for (const a of config?.alternates ?? []) {
      const e = a.endpoints.find((x) => x.address === address);
      if (e) return e;
    }
    return undefined;
  }
}
