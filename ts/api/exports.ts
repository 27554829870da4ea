/**
 * What every environment's entry point of the typed JS API exports, besides
 * its own `createContext`.
 * @module
 */
export { Context, Device, DeviceHandle, HotplugEvent } from './client.js';
export type { ContextEventMap, ContextOptions } from './client.js';
export { ErrorCode, LibusbError, TransferError } from './errors.js';
export type { LibusbErrorCode, LibusbErrorName } from './errors.js';
export { TransferType, ENDPOINT_IN } from '../usb/constants.js';
export type * from './types.js';
export type { SimControl, SimDeviceInfo } from '../sim/control.js';
export type { ModelSpec } from '../sim/models/index.js';
