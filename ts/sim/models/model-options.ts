/**
 * The options a device model takes, declared by each model next to its
 * class: names, types and limits. A spec given as text (`msc:blocks=4096`,
 * the CLI's `--device`) is converted by these declarations; one given as an
 * object is checked by them. An unknown option or a wrong value is an error
 * that names the model, the option and what it expects.
 * @module
 */

/**
 * How an option is written and what it holds:
 * - `id16`: a 16-bit USB ID in hex, as lsusb prints it (`1209`, `0x1209`);
 * - `integer`: a whole number (`4096`, or `0x1000`);
 * - `boolean`: `true` or `false`;
 * - `string`: any text without commas;
 * - `file`: a file's bytes; in text, the file's path (read by the host);
 * - `interfaces`: interface numbers (in text one, `0`; from JavaScript a
 *   number, an array of them, or `{ 0: 'usbhid' }`: numbers to driver names).
 */
export type ModelOptionType = 'id16' | 'integer' | 'boolean' | 'string' | 'file' | 'interfaces';

/** One option of a model. */
export interface ModelOptionDeclaration {
  /** Its type (see {@link ModelOptionType}). */
  type: ModelOptionType;
  /** What it sets, for `libusb-wasm models` and error messages. */
  description: string;
  /** `integer`: the smallest value allowed. */
  min?: number;
  /** `integer`: the largest value allowed. */
  max?: number;
  /** `integer`: the value must be a power of two. */
  powerOfTwo?: boolean;
  /** `string`: the longest text allowed. */
  maxLength?: number;
}

/** A model's options, by name. */
export type ModelOptionDeclarations = Readonly<Record<string, ModelOptionDeclaration>>;

/** Options every model takes (they belong to SimDevice). */
export const COMMON_OPTIONS: ModelOptionDeclarations = {
  unconfigured: { type: 'boolean', description: 'start unconfigured, as an OS leaves a device before SET_CONFIGURATION' },
  reenumerateOnReset: { type: 'boolean', description: 'a bus reset makes the device re-enumerate' },
  kernelDrivers: { type: 'interfaces', description: 'interfaces a kernel driver is bound to while plugged (an OS emulation)' },
};

/** What each type expects, in an error message. */
const EXPECTED: Record<ModelOptionType, string> = {
  id16: 'a 16-bit ID in hex (like 1209)',
  integer: 'a whole number',
  boolean: 'true or false',
  string: 'text',
  file: 'a file name',
  interfaces: 'an interface number',
};

/** The declaration of `key`, or an error that lists what the model takes. */
function declarationOf(model: string, key: string, declared: ModelOptionDeclarations): ModelOptionDeclaration {
  const all = { ...COMMON_OPTIONS, ...declared };
  const d = Object.hasOwn(all, key) ? all[key] : undefined;
  if (!d) throw new Error(`${model}: unknown option '${key}' (options: ${Object.keys(all).join(', ')})`);
  return d;
}

/** Convert one option written as text. Throws a message naming the model and the option. */
export function parseOptionText(model: string, key: string, text: string, declared: ModelOptionDeclarations): unknown {
  const d = declarationOf(model, key, declared);
  const bad = () => new Error(`${model}: ${key}=${text} is not ${EXPECTED[d.type]}`);
  let value: unknown;
  switch (d.type) {
    case 'id16':
      if (!/^(0x)?[0-9a-f]{1,4}$/i.test(text)) throw bad();
      value = parseInt(text.replace(/^0x/i, ''), 16);
      break;
    case 'integer':
    case 'interfaces':
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw bad();
      value = Number(text);
      break;
    case 'boolean':
      if (text !== 'true' && text !== 'false') throw bad();
      value = text === 'true';
      break;
    default:
      if (text === '') throw bad();
      value = text;
  }
  checkOptionValue(model, key, value, declared);
  return value;
}

/** Check one option's value (from text or from an object). Throws a message naming the model and the option. */
export function checkOptionValue(model: string, key: string, value: unknown, declared: ModelOptionDeclarations): void {
  const d = declarationOf(model, key, declared);
  const shown = value instanceof Uint8Array ? `<${value.length} bytes>`
    : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  const fail = (why: string) => {
    throw new Error(`${model}: ${key}=${shown} ${why}`);
  };
  switch (d.type) {
    case 'id16':
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xffff) fail(`is not ${EXPECTED.id16}`);
      return;
    case 'integer': {
      if (!Number.isInteger(value)) fail(`is not ${EXPECTED.integer}`);
      const n = value as number;
      if (d.min !== undefined && n < d.min) fail(`is below ${d.min}`);
      if (d.max !== undefined && n > d.max) fail(`is above ${d.max}`);
      if (d.powerOfTwo && (n & (n - 1)) !== 0) fail('is not a power of two');
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail(`is not ${EXPECTED.boolean}`);
      return;
    case 'string':
      if (typeof value !== 'string') fail(`is not ${EXPECTED.string}`);
      if (d.maxLength !== undefined && (value as string).length > d.maxLength) fail(`is longer than ${d.maxLength} characters`);
      return;
    case 'file':
      if (typeof value !== 'string' && !(value instanceof Uint8Array)) fail('is neither a file name nor bytes');
      return;
    case 'interfaces': {
      const isInterface = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 255;
      const ok = isInterface(value) || (Array.isArray(value) && value.every(isInterface))
        || (typeof value === 'object' && value !== null && !Array.isArray(value)
          && Object.entries(value).every(([k, v]) => isInterface(Number(k)) && typeof v === 'string'));
      if (!ok) fail('is not interface numbers (0 to 255), an array of them, or { number: driver name }');
    }
  }
}

/** The names of the options of type `file` among `options`. */
export function fileOptionNames(model: string, options: Record<string, unknown>, declared: ModelOptionDeclarations): string[] {
  return Object.keys(options).filter((k) => declarationOf(model, k, declared).type === 'file');
}

/** One line per option, for `libusb-wasm models`. */
export function describeOptions(declared: ModelOptionDeclarations): string[] {
  return Object.entries(declared).map(([name, d]) => {
    const limits = [d.min !== undefined ? `min ${d.min}` : '', d.max !== undefined ? `max ${d.max}` : '',
      d.powerOfTwo ? 'a power of two' : '', d.maxLength !== undefined ? `up to ${d.maxLength} characters` : ''].filter(Boolean);
    return `${name}=${d.type}  ${d.description}${limits.length ? `; ${limits.join(', ')}` : ''}`;
  });
}
