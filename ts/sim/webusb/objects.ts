/**
 * The WebUSB objects SimUSB hands out: transfer results, connection events
 * and the descriptor object model (USBConfiguration, USBInterface,
 * USBAlternateInterface, USBEndpoint), shaped as the WebUSB spec has them.
 * @module
 */
import type { ParsedEndpoint } from '../../usb/config-parse.js';
import type { DeviceFilter } from '../../usb/filters.js';
import type { USBDirection, USBEndpointType, USBTransferStatus } from '../../transports/webusb/types.js';

export const MAX_TRANSFER_LENGTH = 32 * 1024 * 1024;


export interface USBDeviceRequestOptions {
  filters: DeviceFilter[];
  exclusionFilters?: DeviceFilter[];
}

// ---- result objects ----------------------------------------------------------

export class USBInTransferResult {
  constructor(readonly status: USBTransferStatus, readonly data: DataView | null = null) {}
}

export class USBOutTransferResult {
  constructor(readonly status: USBTransferStatus, readonly bytesWritten = 0) {}
}

export class USBIsochronousInTransferPacket {
  constructor(readonly status: USBTransferStatus, readonly data: DataView | null = null) {}
}

export class USBIsochronousInTransferResult {
  readonly packets: readonly USBIsochronousInTransferPacket[];
  constructor(packets: USBIsochronousInTransferPacket[], readonly data: DataView | null = null) {
    this.packets = Object.freeze([...packets]);
  }
}

export class USBIsochronousOutTransferPacket {
  constructor(readonly status: USBTransferStatus, readonly bytesWritten = 0) {}
}

export class USBIsochronousOutTransferResult {
  readonly packets: readonly USBIsochronousOutTransferPacket[];
  constructor(packets: USBIsochronousOutTransferPacket[]) {
    this.packets = Object.freeze([...packets]);
  }
}

// ---- the descriptor object model ---------------------------------------------

export class USBEndpoint {
  readonly endpointNumber: number;
  readonly direction: USBDirection;
  readonly type: USBEndpointType;
  /** wMaxPacketSize with the high-bandwidth multiplier applied, as the spec asks. */
  readonly packetSize: number;
  constructor(e: ParsedEndpoint) {
    this.endpointNumber = e.address & 0x0f;
    this.direction = e.address & 0x80 ? 'in' : 'out';
    this.type = (['bulk', 'isochronous', 'bulk', 'interrupt'] as const)[e.type];
    this.packetSize = (e.maxPacketSize & 0x7ff) * (((e.maxPacketSize >> 11) & 3) + 1);
  }
}

export class USBAlternateInterface {
  readonly endpoints: readonly USBEndpoint[];
  constructor(
    readonly alternateSetting: number,
    readonly interfaceClass: number,
    readonly interfaceSubclass: number,
    readonly interfaceProtocol: number,
    readonly interfaceName: string | null,
    endpoints: USBEndpoint[],
  ) {
    this.endpoints = Object.freeze(endpoints);
  }
}

/** What an interface object asks of its device's state: whether it is claimed, and in which alternate setting. */
export interface ClaimState {
  isClaimed(configIndex: number, index: number): boolean;
  readonly selectedAlternate: readonly number[];
}

export class USBInterface {
  readonly alternates: readonly USBAlternateInterface[];
  constructor(
    private readonly state: ClaimState,
    private readonly configIndex: number,
    private readonly index: number,
    readonly interfaceNumber: number,
    alternates: USBAlternateInterface[],
  ) {
    this.alternates = Object.freeze(alternates);
  }

  /** The selected alternate setting (the first one while not claimed, as Chrome reports it). */
  get alternate(): USBAlternateInterface {
    const claimed = this.state.isClaimed(this.configIndex, this.index);
    return this.alternates[claimed ? this.state.selectedAlternate[this.index] : 0];
  }

  /** Claimed by this context. */
  get claimed(): boolean {
    return this.state.isClaimed(this.configIndex, this.index);
  }
}

export class USBConfiguration {
  interfaces: readonly USBInterface[] = [];
  constructor(readonly configurationValue: number, readonly configurationName: string | null) {}
}

