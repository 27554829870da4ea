/**
 * The simulated-device framework. A device model extends {@link SimDevice}:
 * it declares descriptors as data, the framework answers the standard
 * requests (GET_DESCRIPTOR, SET_CONFIGURATION, SET_INTERFACE, GET_STATUS,
 * CLEAR/SET_FEATURE, ...), and the model adds its own behaviour through
 * {@link SimDevice.onControl} and its endpoints ({@link SimEndpoint}).
 *
 * See ts/sim/models/loopback.ts for a complete, small example.
 * @module
 */
import {
  DescriptorType, Feature, RequestType, Speed, StandardRequest, TransferStatus,
  type SpeedCode,
} from '../usb/constants.js';
import type { ResetOutcome, SetupPacket, TransferRequest, TransferCompletion } from '../transports/transport.js';
import {
  buildDescriptors, languageDescriptor, stringDescriptor,
  type ConfigurationSpec, type DescriptorSet, type DeviceSpec,
} from './descriptors.js';
import { SimEndpoint } from './endpoint.js';

/**
 * A model's answer to a control request:
 * - `Uint8Array`: IN data (truncated to wLength);
 * - `true` (or a number of bytes): OUT data accepted / request done;
 * - `'stall'` or `undefined`: the request is not supported (a protocol STALL).
 */
export type ControlReply = Uint8Array | number | true | 'stall' | undefined;

/** Options every device model accepts. */
export interface SimDeviceOptions {
  /** Bus speed (default high). */
  speed?: SpeedCode;
  /** Start unconfigured instead of in the first configuration (as an OS leaves it). */
  unconfigured?: boolean;
  /**
   * Kernel drivers bound to interfaces when plugged (an OS emulation, for
   * programs that detach them): `{ 0: 'usbhid' }`, or interface numbers.
   */
  kernelDrivers?: Record<number, string> | number[] | number;
  /** A bus reset makes the device re-enumerate (libusb_reset_device then answers NOT_FOUND). */
  reenumerateOnReset?: boolean;
  /** Where the model's diagnostics go (a replay's mismatches...). Default: console.error. */
  log?: (message: string) => void;
  /**
   * Raw descriptor bytes that replace the ones built from the spec, to
   * model broken devices (a truncated configuration, a wrong bLength...).
   */
  rawDescriptors?: {
    /** The device descriptor. */
    device?: Uint8Array;
    /** Configuration descriptors, by index. */
    configurations?: Uint8Array[];
    /** The BOS descriptor set. */
    bos?: Uint8Array;
  };
}

function driverMap(k: SimDeviceOptions['kernelDrivers']): Map<number, string> {
  if (k === undefined) return new Map();
  if (typeof k === 'number') return new Map([[k, 'sim-driver']]);
  if (Array.isArray(k)) return new Map(k.map((i) => [i, 'sim-driver']));
  return new Map(Object.entries(k).map(([i, name]) => [Number(i), name]));
}

/**
 * A simulated USB device: the base class of every device model (see the
 * module's description, and ts/sim/models/loopback.ts for an example).
 */
export class SimDevice {
  /** The raw descriptors the device returns. */
  descriptors: DescriptorSet;
  /** The bus speed it runs at (one of {@link Speed}). */
  readonly speed: SpeedCode;
  /** Active bConfigurationValue, 0 when unconfigured. */
  configuration = 0;
  /** Kernel drivers bound now, by interface (the node-style OS emulation). */
  readonly kernelDrivers: Map<number, string>;
  /** Set while the device is plugged into a bus. */
  plugged = false;

  private spec: DeviceSpec;
  private readonly alternates = new Map<number, number>();
  private endpoints = new Map<number, SimEndpoint>();
  /** The endpoints transfers may use now, by address (see findActiveEndpoints()). */
  private readonly activeEndpoints = new Map<number, SimEndpoint>();
  private readonly options: SimDeviceOptions;

  constructor(spec: DeviceSpec, options: SimDeviceOptions = {}) {
    this.spec = spec;
    this.options = options;
    this.descriptors = this.build(spec);
    this.speed = options.speed ?? Speed.HIGH;
    this.kernelDrivers = driverMap(options.kernelDrivers);
    if (!options.unconfigured && spec.configurations.length) this.configure(spec.configurations[0].value, false);
  }

  /** A short label for logs and the runner's device list. */
  get label(): string {
    const id = `${hex4(this.spec.vendorId)}:${hex4(this.spec.productId)}`;
    return this.spec.product ? `${id} ${this.spec.product}` : id;
  }

  // ---- for device models --------------------------------------------------

  /** An endpoint of the active configuration. */
  endpoint(address: number): SimEndpoint {
    const ep = this.endpoints.get(address);
    if (!ep) throw new Error(`${this.label}: no endpoint 0x${address.toString(16)} in configuration ${this.configuration}`);
    return ep;
  }

  /** The alternate setting an interface is in. */
  alternate(iface: number): number {
    return this.alternates.get(iface) ?? 0;
  }

  /** Class and vendor requests (and standard requests the framework does not know). */
  protected onControl(setup: SetupPacket, data: Uint8Array | undefined): ControlReply | Promise<ControlReply> {
    void setup;
    void data;
    return undefined;
  }

  /** Called after SET_CONFIGURATION, with endpoints rebuilt (value 0: unconfigured). */
  protected onConfigure(value: number): void {
    void value;
  }

  /** Called after SET_INTERFACE. */
  protected onSetInterface(iface: number, alternate: number): void {
    void iface;
    void alternate;
  }

  /** Called on a bus reset; return 'reenumerated' if the device now looks different. */
  protected onReset(): ResetOutcome {
    return this.options.reenumerateOnReset ? 'reenumerated' : 'same';
  }

  /**
   * The device disconnects itself (a device that vanishes mid-transfer, or
   * firmware that re-enumerates). No-op when not plugged.
   */
  protected unplugSelf(): void {
    this.unplugHook?.();
  }

  /** @internal Set by the bus while plugged. */
  unplugHook: (() => void) | undefined;

  /** Say something about the model (see SimDeviceOptions.log). */
  protected log(message: string): void {
    (this.options.log ?? console.error)(message);
  }

  /** A snapshot of model state for tests and the runner (structured-cloneable). */
  inspect(): unknown {
    return { label: this.label, configuration: this.configuration };
  }

  /** Replace the descriptors (firmware that re-enumerates as something else). */
  protected redefine(spec: DeviceSpec): void {
    this.spec = spec;
    this.descriptors = this.build(spec);
    this.alternates.clear();
    this.configure(this.options.unconfigured || !spec.configurations.length ? 0 : spec.configurations[0].value);
  }

  // ---- the host side (used by transports) ---------------------------------

  /** A control transfer on endpoint 0. */
  control(setup: SetupPacket, data?: Uint8Array): TransferCompletion | Promise<TransferCompletion> {
    if (!this.plugged) return { status: TransferStatus.NO_DEVICE };
    const reply = this.standardRequest(setup, data) ?? this.onControl(setup, data);
    if (reply instanceof Promise) return reply.then((r) => this.controlResult(setup, data, r));
    return this.controlResult(setup, data, reply);
  }

  /** A bulk, interrupt or isochronous transfer. */
  transfer(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    if (!this.plugged) return { status: TransferStatus.NO_DEVICE };
    const ep = this.activeEndpoints.get(request.endpoint);
    if (!ep) return { status: TransferStatus.STALL };
    return ep.submit(request);
  }

  /** Cancel a waiting transfer; false if it is not waiting. */
  cancel(request: TransferRequest): boolean {
    return this.endpoints.get(request.endpoint)?.cancel(request) ?? false;
  }

  /** A USB bus reset. Configuration and alternate settings are restored afterwards, as an OS does. */
  busReset(): ResetOutcome {
    for (const ep of this.endpoints.values()) ep.reset(TransferStatus.ERROR);
    return this.onReset();
  }

  /** @internal The device is unplugged: waiting transfers end with NO_DEVICE. */
  disconnect(): void {
    this.plugged = false;
    for (const ep of this.endpoints.values()) ep.disconnect();
  }

  /** @internal Plugged (again): fresh endpoints. */
  connect(): void {
    this.plugged = true;
    this.kernelDrivers.clear();
    for (const [k, v] of driverMap(this.options.kernelDrivers)) this.kernelDrivers.set(k, v);
    this.alternates.clear();
    this.configure(this.configuration || (this.options.unconfigured ? 0 : (this.spec.configurations[0]?.value ?? 0)));
  }

  private build(spec: DeviceSpec): DescriptorSet {
    const built = buildDescriptors(spec);
    const raw = this.options.rawDescriptors;
    if (!raw) return built;
    return {
      ...built,
      device: raw.device ?? built.device,
      configurations: raw.configurations ?? built.configurations,
      bos: raw.bos ?? built.bos,
    };
  }

  // ---- standard requests ----------------------------------------------------

  private controlResult(setup: SetupPacket, data: Uint8Array | undefined, reply: ControlReply): TransferCompletion {
    if (!this.plugged) return { status: TransferStatus.NO_DEVICE };
    if (reply === undefined || reply === 'stall') return { status: TransferStatus.STALL };
    if (setup.bmRequestType & RequestType.DIR_IN) {
      const bytes = reply instanceof Uint8Array ? reply : new Uint8Array(0);
      return { status: TransferStatus.COMPLETED, data: bytes.length > setup.wLength ? bytes.subarray(0, setup.wLength) : bytes };
    }
    return { status: TransferStatus.COMPLETED, bytesWritten: data?.length ?? 0 };
  }

  /** Standard requests the framework answers; undefined passes to onControl. */
  private standardRequest(setup: SetupPacket, data: Uint8Array | undefined): ControlReply | undefined {
    if ((setup.bmRequestType & RequestType.TYPE_MASK) !== RequestType.TYPE_STANDARD) return undefined;
    const recipient = setup.bmRequestType & RequestType.RECIPIENT_MASK;
    const dirIn = (setup.bmRequestType & RequestType.DIR_IN) !== 0;
    void data;
    switch (setup.bRequest) {
      case StandardRequest.GET_DESCRIPTOR:
        if (!dirIn || recipient !== RequestType.RECIPIENT_DEVICE) return undefined;
        return this.getDescriptor(setup.wValue >> 8, setup.wValue & 0xff) ?? 'stall';
      case StandardRequest.GET_STATUS: {
        if (!dirIn) return 'stall';
        if (recipient === RequestType.RECIPIENT_DEVICE) {
          const cfg = this.activeConfig();
          const selfPowered = cfg && (cfg.attributes ?? 0) & 0x40 ? 1 : 0;
          return new Uint8Array([selfPowered, 0]);
        }
        if (recipient === RequestType.RECIPIENT_INTERFACE) {
          return this.hasInterface(setup.wIndex & 0xff) ? new Uint8Array([0, 0]) : 'stall';
        }
        if (recipient === RequestType.RECIPIENT_ENDPOINT) {
          const addr = setup.wIndex & 0xff;
          if ((addr & 0x7f) === 0) return new Uint8Array([0, 0]);
          const ep = this.endpoints.get(addr);
          return ep ? new Uint8Array([ep.halted ? 1 : 0, 0]) : 'stall';
        }
        return 'stall';
      }
      case StandardRequest.CLEAR_FEATURE:
      case StandardRequest.SET_FEATURE: {
        if (recipient !== RequestType.RECIPIENT_ENDPOINT) {
          // remote wakeup and test modes: accepted and ignored
          return recipient === RequestType.RECIPIENT_DEVICE ? true : 'stall';
        }
        if (setup.wValue !== Feature.ENDPOINT_HALT) return 'stall';
        const addr = setup.wIndex & 0xff;
        if ((addr & 0x7f) === 0) return true;
        const ep = this.endpoints.get(addr);
        if (!ep || this.configuration === 0) return 'stall';
        if (setup.bRequest === StandardRequest.SET_FEATURE) ep.halt();
        else ep.clearHalt();
        return true;
      }
      case StandardRequest.SET_ADDRESS:
        return true;
      case StandardRequest.GET_CONFIGURATION:
        return dirIn ? new Uint8Array([this.configuration]) : 'stall';
      case StandardRequest.SET_CONFIGURATION: {
        const value = setup.wValue & 0xff;
        if (value !== 0 && !this.spec.configurations.some((c) => c.value === value)) return 'stall';
        this.alternates.clear();
        this.configure(value);
        return true;
      }
      case StandardRequest.GET_INTERFACE: {
        const iface = setup.wIndex & 0xff;
        if (!dirIn || !this.hasInterface(iface)) return 'stall';
        return new Uint8Array([this.alternate(iface)]);
      }
      case StandardRequest.SET_INTERFACE: {
        const iface = setup.wIndex & 0xff;
        const alt = setup.wValue & 0xff;
        const cfg = this.activeConfig();
        if (!cfg || !cfg.interfaces.some((i) => i.number === iface && (i.alternate ?? 0) === alt)) return 'stall';
        for (const ep of this.interfaceEndpoints(iface)) ep.reset(TransferStatus.ERROR);
        this.alternates.set(iface, alt);
        this.findActiveEndpoints();
        this.applyAlternate(iface, alt);
        this.onSetInterface(iface, alt);
        return true;
      }
      default:
        return undefined;
    }
  }

  private getDescriptor(type: number, index: number): Uint8Array | undefined {
    const d = this.descriptors;
    switch (type) {
      case DescriptorType.DEVICE:
        return d.device;
      case DescriptorType.CONFIG:
        return d.configurations[index];
      case DescriptorType.STRING:
        if (index === 0) return languageDescriptor(d.languages);
        return d.strings.has(index) ? stringDescriptor(d.strings.get(index)!) : undefined;
      case DescriptorType.BOS:
        return d.bos;
      case 0x06: // DEVICE_QUALIFIER: only high-speed capable devices have one
        if (this.speed !== Speed.HIGH) return undefined;
        return new Uint8Array([10, 0x06, d.device[2], d.device[3], d.device[4], d.device[5], d.device[6],
          d.device[7], d.device[17], 0]);
      default:
        return undefined;
    }
  }

  private activeConfig(): ConfigurationSpec | undefined {
    return this.spec.configurations.find((c) => c.value === this.configuration);
  }

  private hasInterface(iface: number): boolean {
    return !!this.activeConfig()?.interfaces.some((i) => i.number === iface);
  }

  private interfaceEndpoints(iface: number): SimEndpoint[] {
    const cfg = this.activeConfig();
    const addrs = new Set<number>();
    for (const i of cfg?.interfaces ?? []) if (i.number === iface) for (const e of i.endpoints ?? []) addrs.add(e.address);
    return [...addrs].map((a) => this.endpoints.get(a)!).filter(Boolean);
  }

  /** The endpoints of the active configuration's selected alternate settings (after every change of either). */
  private findActiveEndpoints(): void {
    this.activeEndpoints.clear();
    for (const i of this.activeConfig()?.interfaces ?? []) {
      if ((i.alternate ?? 0) !== this.alternate(i.number)) continue;
      for (const e of i.endpoints ?? []) {
        const ep = this.endpoints.get(e.address);
        if (ep) this.activeEndpoints.set(e.address, ep);
      }
    }
  }

  /** Select a configuration and build its endpoints; models hear of it through onConfigure. */
  private configure(value: number, notify = true): void {
    for (const ep of this.endpoints.values()) ep.reset(TransferStatus.ERROR);
    this.configuration = value;
    this.endpoints = new Map();
    const cfg = this.activeConfig();
    for (const i of cfg?.interfaces ?? []) {
      for (const e of i.endpoints ?? []) {
        if (!this.endpoints.has(e.address)) this.endpoints.set(e.address, new SimEndpoint(e.address, e.type, e.maxPacketSize));
      }
    }
    for (const i of cfg?.interfaces ?? []) if ((i.alternate ?? 0) === 0) this.applyAlternate(i.number, 0);
    this.findActiveEndpoints();
    if (notify) this.onConfigure(value);
  }

  /** Endpoints shared between alternate settings take the active one's packet size. */
  private applyAlternate(iface: number, alt: number): void {
    const spec = this.activeConfig()?.interfaces.find((i) => i.number === iface && (i.alternate ?? 0) === alt);
    for (const e of spec?.endpoints ?? []) {
      const ep = this.endpoints.get(e.address);
      if (ep) ep.maxPacketSize = e.maxPacketSize;
    }
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
