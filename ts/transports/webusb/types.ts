/**
 * The parts of the WebUSB API (https://wicg.github.io/webusb/) the webusb
 * and node transports use, as structural types: Chrome's `navigator.usb`,
 * the `usb` package's `WebUSB` and our simulated devices behind
 * `navigator.usb`'s shape all fit them.
 * @module
 */

export type USBRequestType = 'standard' | 'class' | 'vendor';
export type USBRecipient = 'device' | 'interface' | 'endpoint' | 'other';
export type USBTransferStatus = 'ok' | 'stall' | 'babble';
export type USBDirection = 'in' | 'out';
export type USBEndpointType = 'bulk' | 'interrupt' | 'isochronous';

export interface USBControlTransferParameters {
  requestType: USBRequestType;
  recipient: USBRecipient;
  request: number;
  value: number;
  index: number;
}

export interface USBInTransferResultLike {
  readonly data?: DataView | null;
  readonly status: USBTransferStatus;
}

export interface USBOutTransferResultLike {
  readonly bytesWritten: number;
  readonly status: USBTransferStatus;
}

export interface USBIsochronousInTransferPacketLike {
  readonly data?: DataView | null;
  readonly status: USBTransferStatus;
}

export interface USBIsochronousInTransferResultLike {
  readonly data?: DataView | null;
  readonly packets: readonly USBIsochronousInTransferPacketLike[];
}

export interface USBIsochronousOutTransferPacketLike {
  readonly bytesWritten: number;
  readonly status: USBTransferStatus;
}

export interface USBIsochronousOutTransferResultLike {
  readonly packets: readonly USBIsochronousOutTransferPacketLike[];
}

export interface USBEndpointLike {
  readonly endpointNumber: number;
  readonly direction: USBDirection;
  readonly type: USBEndpointType;
  readonly packetSize: number;
}

export interface USBAlternateInterfaceLike {
  readonly alternateSetting: number;
  readonly interfaceClass: number;
  readonly interfaceSubclass: number;
  readonly interfaceProtocol: number;
  readonly interfaceName?: string | null;
  readonly endpoints: readonly USBEndpointLike[];
}

export interface USBInterfaceLike {
  readonly interfaceNumber: number;
  readonly alternate: USBAlternateInterfaceLike | null;
  readonly alternates: readonly USBAlternateInterfaceLike[];
  readonly claimed: boolean;
}

export interface USBConfigurationLike {
  readonly configurationValue: number;
  readonly configurationName?: string | null;
  readonly interfaces: readonly USBInterfaceLike[];
}

/** A `USBDevice`. */
export interface USBDeviceLike {
  readonly usbVersionMajor: number;
  readonly usbVersionMinor: number;
  readonly vendorId: number;
  readonly productId: number;
  readonly manufacturerName?: string | null;
  readonly productName?: string | null;
  readonly serialNumber?: string | null;
  readonly configuration: USBConfigurationLike | null;
  readonly configurations: readonly USBConfigurationLike[];
  readonly opened: boolean;
  open(): Promise<void>;
  close(): Promise<void>;
  forget?(): Promise<void>;
  selectConfiguration(configurationValue: number): Promise<void>;
  claimInterface(interfaceNumber: number): Promise<void>;
  releaseInterface(interfaceNumber: number): Promise<void>;
  selectAlternateInterface(interfaceNumber: number, alternateSetting: number): Promise<void>;
  controlTransferIn(setup: USBControlTransferParameters, length: number): Promise<USBInTransferResultLike>;
  controlTransferOut(setup: USBControlTransferParameters, data?: BufferSource): Promise<USBOutTransferResultLike>;
  clearHalt(direction: USBDirection, endpointNumber: number): Promise<void>;
  transferIn(endpointNumber: number, length: number): Promise<USBInTransferResultLike>;
  transferOut(endpointNumber: number, data: BufferSource): Promise<USBOutTransferResultLike>;
  isochronousTransferIn(endpointNumber: number, packetLengths: number[]): Promise<USBIsochronousInTransferResultLike>;
  isochronousTransferOut(endpointNumber: number, data: BufferSource, packetLengths: number[]): Promise<USBIsochronousOutTransferResultLike>;
  reset(): Promise<void>;
}

/** `USBConnectionEvent` */
export interface USBConnectionEventLike {
  readonly device: USBDeviceLike;
}

/** `navigator.usb` (the `USB` interface). */
export interface USBLike {
  getDevices(): Promise<USBDeviceLike[]>;
  addEventListener(type: 'connect' | 'disconnect', listener: (event: USBConnectionEventLike) => void): void;
  removeEventListener(type: 'connect' | 'disconnect', listener: (event: USBConnectionEventLike) => void): void;
}
