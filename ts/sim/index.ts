/**
 * Simulated USB devices: the framework (SimDevice, SimEndpoint, SimBus,
 * descriptor builders) and the models that ship.
 * @module
 */
export { SimDevice, type ControlReply, type SimDeviceOptions } from './device.js';
export { SimEndpoint, type ReceiveHandler, type ReceiveOutcome, type IsoInHandler, type IsoOutHandler } from './endpoint.js';
export { SimBus, type SimAttachment } from './bus.js';
export {
  buildDescriptors, stringDescriptor, languageDescriptor, Capability,
  type DeviceSpec as DescriptorsSpec, type ConfigurationSpec, type InterfaceSpec, type EndpointSpec,
  type InterfaceAssociationSpec, type DescriptorSet, type EndpointKind,
} from './descriptors.js';
export * from './models/index.js';
export { SimUSB, type SimUsbOptions, type SimUSBDevice } from './webusb-shape.js';
