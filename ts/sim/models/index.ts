/**
 * The device models that ship, by name, and the small spec language the
 * runner and CLI use to pick them: `loopback`, `msc:blocks=4096`,
 * `fx2`, ... (`name[:key=value,key=value]`).
 * @module
 */
import type { SimDevice } from '../device.js';
import { Fx2Device } from './fx2.js';
import { SimpleHidDemo } from './hid.js';
import { LoopbackDevice } from './loopback.js';
import { MassStorageDevice } from './mass-storage.js';
import { ReplayDevice } from './replay.js';

export { LoopbackDevice, LoopbackRequest, LOOPBACK_PRODUCT_ID, LOOPBACK_VENDOR_ID, type LoopbackOptions } from './loopback.js';
export { Fx2Device, FX2_CPUCS, FX2_PRODUCT_ID, FX2_VENDOR_ID } from './fx2.js';
export { MassStorageDevice, MSC_PRODUCT_ID, MSC_VENDOR_ID, type MassStorageOptions } from './mass-storage.js';
export {
  HidDevice, SimpleHidDemo, HidDemoCommand, HidReportType, HidRequest, HID_DEMO_PRODUCT_ID, HID_DEMO_REPORT_DESCRIPTOR,
  HID_DEMO_VENDOR_ID, hidDescriptor, parseReportDescriptor,
} from './hid.js';
export { ReplayDevice, type ReplayOptions } from './replay.js';
export type { HidDeviceOptions, HidDeviceSpec, HidReportLayout, HidReportTypeCode, SimpleHidDemoOptions } from './hid.js';

/** A device chosen by model name, with options for its constructor. */
export interface ModelSpec {
  /** The model's name (`loopback`, `hid`, ...) or an alias (`msc`). */
  model: string;
  /** Options for the model's constructor. */
  options?: Record<string, unknown>;
}

/** Makes a device of a model from its options. */
export type ModelFactory = (options: Record<string, unknown>) => SimDevice;
type Factory = ModelFactory;

const models = new Map<string, Factory>([
  ['loopback', (o) => new LoopbackDevice(o)],
  ['fx2', (o) => new Fx2Device(o)],
  ['mass-storage', (o) => new MassStorageDevice(o)],
  ['hid', (o) => new SimpleHidDemo(o)],
]);
/**
 * Models that are built from something the spec must give (replay: a
 * capture), with an example spec. They are not in modelNames(), which lists
 * the models that plug in as they are.
 */
const needingOptions = new Map<string, { factory: Factory; example: string }>([
  ['replay', { factory: (o) => new ReplayDevice(o), example: 'replay:file=capture.pcapng' }],
]);
const aliases = new Map([['msc', 'mass-storage'], ['fx2lp', 'fx2']]);

/** Register a model so specs can name it. */
export function registerModel(name: string, factory: Factory): void {
  models.set(name, factory);
}

/** Names of the registered models that need no options: each plugs in as it is. */
export function modelNames(): string[] {
  return [...models.keys()];
}

/** The models that need an option to be built (see modelNames()), each with an example spec. */
export function modelsNeedingOptions(): { model: string; example: string }[] {
  return [...needingOptions].map(([model, m]) => ({ model, example: m.example }));
}

/** Build a device from a spec. Throws a message that lists the known models. */
export function createDevice(spec: ModelSpec | string): SimDevice {
  const s = typeof spec === 'string' ? parseDeviceSpec(spec) : spec;
  const name = aliases.get(s.model) ?? s.model;
  const factory = models.get(name) ?? needingOptions.get(name)?.factory;
  if (!factory) {
    throw new Error(`unknown device model '${s.model}'; available: ${[...modelNames(), ...needingOptions.keys()].join(', ')} `
      + `(aliases: ${[...aliases.keys()].join(', ')})`);
  }
  return factory(s.options ?? {});
}

/** Parse `name[:key=value,key=value]`; numbers (decimal or 0x) become numbers. */
export function parseDeviceSpec(text: string): ModelSpec {
  const m = /^([a-z0-9-]+)(?::(.*))?$/i.exec(text.trim());
  if (!m) throw new Error(`bad device spec '${text}': expected name[:key=value,...]`);
  const options: Record<string, unknown> = {};
  for (const part of m[2] ? m[2].split(',') : []) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`bad device option '${part}' in '${text}': expected key=value`);
    const key = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    options[key] = /^(0x[0-9a-f]+|\d+)$/i.test(raw) ? Number(raw) : raw === 'true' ? true : raw === 'false' ? false : raw;
  }
  return { model: m[1].toLowerCase(), options };
}
