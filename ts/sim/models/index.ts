/**
 * The device models that ship, by name, and the small spec language the
 * runner and CLI use to pick them: `loopback`, `msc:blocks=4096`,
 * `fx2`, ... (`name[:key=value,key=value]`). Each model declares the
 * options its specs may give, with their types (./model-options.ts).
 * @module
 */
import type { SimDevice } from '../device.js';
import { Fx2Device } from './fx2.js';
import { SIMPLE_HID_DEMO_OPTIONS, SimpleHidDemo } from './hid.js';
import { LOOPBACK_OPTIONS, LoopbackDevice } from './loopback.js';
import { MASS_STORAGE_OPTIONS, MassStorageDevice } from './mass-storage.js';
import { checkOptionValue, fileOptionNames, parseOptionText, type ModelOptionDeclarations } from './model-options.js';
import { REPLAY_OPTIONS, ReplayDevice } from './replay.js';

export { LOOPBACK_OPTIONS, LoopbackDevice, LoopbackRequest, LOOPBACK_PRODUCT_ID, LOOPBACK_VENDOR_ID, type LoopbackOptions } from './loopback.js';
export { Fx2Device, FX2_CPUCS, FX2_PRODUCT_ID, FX2_VENDOR_ID } from './fx2.js';
export { MASS_STORAGE_OPTIONS, MassStorageDevice, MSC_PRODUCT_ID, MSC_VENDOR_ID, type MassStorageOptions } from './mass-storage.js';
export {
  HidDevice, SIMPLE_HID_DEMO_OPTIONS, SimpleHidDemo, HidDemoCommand, HidReportType, HidRequest, HID_DEMO_PRODUCT_ID, HID_DEMO_REPORT_DESCRIPTOR,
  HID_DEMO_VENDOR_ID, hidDescriptor, parseReportDescriptor,
} from './hid.js';
export { REPLAY_OPTIONS, ReplayDevice, type ReplayOptions } from './replay.js';
export {
  COMMON_OPTIONS, describeOptions, type ModelOptionDeclaration, type ModelOptionDeclarations, type ModelOptionType,
} from './model-options.js';
export type { HidDeviceOptions, HidDeviceSpec, HidReportLayout, HidReportTypeCode, SimpleHidDemoOptions } from './hid.js';

/** A device chosen by model name, with options for its constructor. */
export interface ModelSpec {
  /** The model's name (`loopback`, `hid`, ...) or an alias (`msc`). */
  model: string;
  /** Options for the model's constructor; each must be one the model declares (see {@link modelOptions}). */
  options?: Record<string, unknown>;
}

/** Makes a device of a model from its options. */
export type ModelFactory = (options: Record<string, unknown>) => SimDevice;

/** A registered model: how to make it, and the options it takes. */
interface Model {
  factory: ModelFactory;
  options: ModelOptionDeclarations;
  /** For a model built from something its spec must give (replay: a capture), an example spec. */
  needs?: string;
}

const models = new Map<string, Model>([
  ['loopback', { factory: (o) => new LoopbackDevice(o), options: LOOPBACK_OPTIONS }],
  ['fx2', { factory: (o) => new Fx2Device(o), options: {} }],
  ['mass-storage', { factory: (o) => new MassStorageDevice(o), options: MASS_STORAGE_OPTIONS }],
  ['hid', { factory: (o) => new SimpleHidDemo(o), options: SIMPLE_HID_DEMO_OPTIONS }],
  ['replay', { factory: (o) => new ReplayDevice(o), options: REPLAY_OPTIONS, needs: 'replay:file=capture.pcapng' }],
]);
const aliases = new Map([['msc', 'mass-storage'], ['fx2lp', 'fx2']]);

/**
 * Register a model so specs can name it, with the options its specs may
 * give (any other option is an error).
 */
export function registerModel(name: string, factory: ModelFactory, options: ModelOptionDeclarations = {}): void {
  models.set(name, { factory, options });
}

/** Names of the registered models that plug in as they are (no option needed). */
export function modelNames(): string[] {
  return [...models].filter(([, m]) => !m.needs).map(([name]) => name);
}

/** A model built from something its spec must give. */
export interface ModelNeedingOptions {
  /** Its name. */
  model: string;
  /** A spec that builds one (`replay:file=capture.pcapng`). */
  example: string;
}

/** The models built from something their spec must give (see modelNames()), each with an example spec. */
export function modelsNeedingOptions(): ModelNeedingOptions[] {
  return [...models].filter(([, m]) => m.needs).map(([model, m]) => ({ model, example: m.needs! }));
}

/** The aliases of a model (`msc` for `mass-storage`). */
export function modelAliases(name: string): string[] {
  return [...aliases].filter(([, target]) => target === name).map(([alias]) => alias);
}

/** The options a model declares (beyond {@link COMMON_OPTIONS}). Throws for an unknown model. */
export function modelOptions(name: string): ModelOptionDeclarations {
  return modelOf(name)[1].options;
}

/** The model a name or alias stands for, or an error that lists the known ones. */
function modelOf(name: string): [string, Model] {
  const canonical = aliases.get(name) ?? name;
  const model = models.get(canonical);
  if (!model) {
    throw new Error(`unknown device model '${name}'; available: ${[...models.keys()].join(', ')} (aliases: ${[...aliases.keys()].join(', ')})`);
  }
  return [canonical, model];
}

/** What {@link createDevice} gets from where the device is made. */
export interface CreateDeviceEnvironment {
  /** Read the bytes of a `file` option given as a path (Node: relative to the host's working directory). */
  readFile?: (path: string) => Uint8Array;
  /** Where the device says what went wrong (replay: a request the capture does not have). */
  log?: (message: string) => void;
}

/**
 * Build a device from a spec. Throws a message that lists the known models,
 * or names an unknown option or a wrong value.
 */
export function createDevice(spec: ModelSpec | string, env: CreateDeviceEnvironment = {}): SimDevice {
  const fromText = typeof spec === 'string';
  const s = fromText ? parseDeviceSpec(spec) : spec;
  const [name, model] = modelOf(s.model);
  const options = { ...s.options };
  // (a spec given as text had each option checked as parseDeviceSpec() converted it: parseOptionText())
  if (!fromText) for (const [key, value] of Object.entries(options)) checkOptionValue(name, key, value, model.options);
  for (const key of fileOptionNames(name, options, model.options)) {
    const file = options[key];
    if (typeof file !== 'string') continue;
    if (!env.readFile) throw new Error(`${name}: ${key}=${file} names a file; here, give the file's bytes instead`);
    options[key] = env.readFile(file);
  }
  return model.factory(env.log ? { log: env.log, ...options } : options);
}

/**
 * Parse `name[:key=value,key=value]`: each value is converted by the type
 * the model declares for it (IDs in hex, numbers, booleans, text, file
 * names). Throws for an unknown model, an unknown option or a wrong value.
 */
export function parseDeviceSpec(text: string): ModelSpec {
  const m = /^([a-z0-9-]+)(?::(.*))?$/i.exec(text.trim());
  if (!m) throw new Error(`bad device spec '${text}': expected name[:key=value,...]`);
  const name = m[1].toLowerCase();
  const [canonical, model] = modelOf(name);
  const options: Record<string, unknown> = {};
  for (const part of m[2] ? m[2].split(',') : []) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`bad device option '${part}' in '${text}': expected key=value`);
    const key = part.slice(0, eq).trim();
    options[key] = parseOptionText(canonical, key, part.slice(eq + 1).trim(), model.options);
  }
  return { model: name, options };
}
