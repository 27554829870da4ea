/**
 * Command-line parsing shared by the CLI's commands: Node's util.parseArgs
 * (strict: unknown options are errors; `--opt=value` and `--opt value`;
 * repeatable options), options only before the program, everything after
 * it the program's own, and usage errors as one line plus "see --help"
 * (exit status 2).
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { checkFilter, type DeviceFilter } from '../../usb/filters.js';

/** A usage error: the CLI prints its message and "see --help", and exits with 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

type ValueOf<S> = S extends { type: 'boolean' } ? (S extends { multiple: true } ? boolean[] : boolean)
  : (S extends { multiple: true } ? string[] : string);
/** The values of parsed options, by name. */
export type OptionValues<O extends OptionSpecs> = { [K in keyof O]?: ValueOf<O[K]> };

/** A command line, parsed. */
export interface ParsedCommand<O extends OptionSpecs> {
  /** The options given. */
  values: OptionValues<O>;
  /** Positional arguments before the rest (the program). */
  positionals: string[];
  /** Everything after the program (or after `--`): the program's own arguments. */
  rest: string[];
}

/**
 * Parse a command's options up to its first positional argument (the
 * program), or up to `--`. With `rest`, what follows the first positional
 * (or `--`) is returned untouched: the program's own arguments. Without it,
 * the command takes no positional arguments: one is a usage error (unless
 * --help was asked for, which wins).
 */
export function parseCommand<O extends OptionSpecs>(argv: string[], options: O, command: string, rest = true): ParsedCommand<O> {
  let end = argv.length;
  if (rest) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a === '--') {
        end = i;
        break;
      }
      if (!a.startsWith('-') || a === '-') {
        end = i + 1;
        break;
      }
      // an option that takes a value in the next word skips it
      const name = a.startsWith('--') ? a.slice(2) : Object.keys(options).find((k) => options[k].short === a.slice(1));
      if (name && !name.includes('=') && options[name]?.type === 'string') i++;
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(0, end), options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(tidy((e as Error).message), command);
  }
  if (!rest && parsed.positionals.length && !(parsed.values as { help?: unknown }).help) {
    throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`, command);
  }
  const after = argv[end] === '--' ? argv.slice(end + 1) : argv.slice(end);
  return { values: parsed.values as OptionValues<O>, positionals: parsed.positionals, rest: after };
}

/** parseArgs' messages, in the CLI's words. */
function tidy(message: string): string {
  return message
    .replace(/^Unknown option '([^']+)'.*$/s, 'unknown option $1')
    .replace(/^Option '([^']+)' argument missing$/s, '$1 needs a value')
    .replace(/\. To specify a positional argument.*$/s, '');
}

/** A VID or VID:PID in hex (as lsusb prints them), e.g. 1209 or 1209:0001. */
export function parseVidPid(text: string, option: string): { vendorId: number; productId?: number } {
  const m = /^(?:0x)?([0-9a-f]{1,4})(?::(?:0x)?([0-9a-f]{1,4}))?$/i.exec(text);
  if (!m) throw new UsageError(`${option} expects VID or VID:PID in hex (like 1209:0001), got '${text}'`);
  return m[2] ? { vendorId: parseInt(m[1], 16), productId: parseInt(m[2], 16) } : { vendorId: parseInt(m[1], 16) };
}

/** A TCP port (0: any free one). */
export function parsePort(text: string | undefined, command: string): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!(/^\d+$/.test(text) && port <= 65535)) throw new UsageError(`--port ${text} is not a TCP port`, command);
  return port;
}

const FILTER_KEYS = ['vendorId', 'productId', 'classCode', 'subclassCode', 'protocolCode', 'serialNumber'] as const;

/**
 * A WebUSB-style device filter: VID[:PID] in hex (as lsusb prints them), or
 * key=value pairs with WebUSB's names (`classCode=0x08`, `vendorId=0x1209,
 * productId=0x0001`, `serialNumber=LB0001`; numbers in decimal or 0x hex).
 */
export function parseDeviceFilter(text: string, option: string): DeviceFilter {
  if (!text.includes('=')) return parseVidPid(text, option);
  const filter: Record<string, string | number> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim() as (typeof FILTER_KEYS)[number];
    const value = part.slice(eq + 1).trim();
    if (eq <= 0 || !FILTER_KEYS.includes(key)) {
      throw new UsageError(`${option}: '${part}' is not one of ${FILTER_KEYS.map((k) => `${k}=`).join(', ')} (or give VID[:PID])`);
    }
    if (key === 'serialNumber') {
      filter[key] = value;
      continue;
    }
    const n = /^(0x[0-9a-f]+|\d+)$/i.test(value) ? Number(value) : NaN;
    if (!(n >= 0 && n <= (key.endsWith('Id') ? 0xffff : 0xff))) throw new UsageError(`${option}: ${key}=${value} is not a number in range`);
    filter[key] = n;
  }
  try {
    checkFilter(filter);
  } catch (e) {
    throw new UsageError(`${option}: ${(e as Error).message}`);
  }
  return filter as DeviceFilter;
}
