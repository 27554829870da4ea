/**
 * Simulated USB devices: the framework to write device models in
 * TypeScript (SimDevice, SimEndpoint, SimBus, descriptor builders), the
 * models that ship, the `sim` transport that puts them on a simulated bus,
 * and the same devices behind `navigator.usb`'s shape (SimUSB). Entry point
 * `libusb-wasm/sim`.
 *
 * ```js
 * import { SimDevice } from 'libusb-wasm/sim';
 * class Echo extends SimDevice {
 *   constructor() {
 *     super({ vendorId: 0x1209, productId: 0x7777, configurations: [{ value: 1, interfaces: [{ number: 0, class: 0xff,
 *       endpoints: [{ address: 0x01, type: 'bulk', maxPacketSize: 512 }, { address: 0x81, type: 'bulk', maxPacketSize: 512 }] }] }] });
 *   }
 *   onConfigure() { this.endpoint(0x01).onReceive = (data) => this.endpoint(0x81).send(data); }
 * }
 * export default () => [new Echo()];   // a device module: --device-module, or deviceModule
 * ```
 * @module libusb-wasm/sim
 */
export { SimDevice, type ControlReply, type SimDeviceOptions } from './device.js';
export { SimEndpoint, type InSource, type ReceiveHandler, type ReceiveOutcome, type IsoInHandler, type IsoOutHandler } from './endpoint.js';
export { SimBus, type SimAttachment, type SimBusListener } from './bus.js';
export {
  buildDescriptors, stringDescriptor, languageDescriptor, Capability,
  type DeviceSpec, type ConfigurationSpec, type InterfaceSpec, type EndpointSpec,
  type InterfaceAssociationSpec, type DescriptorSet, type EndpointKind,
} from './descriptors.js';
export * from './models/index.js';
export { SimUSB, type SimUsbOptions, type SimUSBDevice, type ResultDelivery } from './webusb/sim-usb.js';
export { SimTransport, type SimTransportOptions } from './transport.js';
export { PROTECTED_CLASSES } from '../usb/filters.js';
export type {
  DeviceLocation, DeviceStrings, TransportHotplugEvent, IsoPacketCompletion, RawDescriptors, ResetOutcome, SetupPacket, Transport, TransportDevice,
  TransferRequest, TransferCompletion,
} from '../transports/transport.js';
export {
  Speed, TransferStatus, TransferType, type SpeedCode, type TransferStatusCode, type TransferTypeCode,
} from '../usb/constants.js';
