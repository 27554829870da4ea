/**
 * Simulated USB devices: the framework to write device models in
 * TypeScript, the models that ship, and the `sim` transport that puts them
 * on a simulated bus. Entry point `libusb-wasm/sim`.
 *
 * ```ts
 * import { SimDevice } from 'libusb-wasm/sim';
 * class Echo extends SimDevice { ... }
 * ```
 * @module
 */
export { SimBus } from './bus.js';
export type { SimAttachment, SimBusListener } from './bus.js';
export { SimDevice } from './device.js';
export type { ControlReply, SimDeviceOptions } from './device.js';
export { SimEndpoint } from './endpoint.js';
export type { IsoInHandler, IsoOutHandler, ReceiveHandler, ReceiveOutcome } from './endpoint.js';
export { Capability, buildDescriptors, languageDescriptor, stringDescriptor } from './descriptors.js';
export type {
  ConfigurationSpec, DescriptorSet, DeviceSpec as SimDeviceSpec, EndpointKind, EndpointSpec, InterfaceAssociationSpec,
  InterfaceSpec,
} from './descriptors.js';
export * from './models/index.js';
export { SimTransport } from '../transports/sim.js';
export type { SimTransportOptions } from '../transports/sim.js';
