/**
 * `libusb-wasm run`: run a libusb program compiled with emcc in a worker
 * thread, on real devices (the node transport) or simulated ones.
 * @module
 */
import { describeDevice } from '../../host/audit.js';
import type { DeviceFilter } from '../../usb/filters.js';
import type { RunOptions } from '../node/index.js';
import { parseCommand, parseVidPid, UsageError, type OptionSpecs } from './args.js';
import { DEVICE_OPTIONS, DEVICE_USAGE, transportChoiceOf } from './device-options.js';

export const RUN_USAGE = `usage: libusb-wasm run [options] <program.js> [--] [program arguments]

Runs a libusb program compiled with emcc against libusb-wasm in a worker thread.
It reaches the machine's real USB devices (through the npm 'usb' package),
unless simulated devices or a USB/IP server are asked for.

options:
  --transport node|sim|webusb|usbip
                           where devices come from (default: node, sim when
                           simulated devices are given, usbip with --server)
  --server host[:port]     with --transport usbip: the USB/IP server whose
                           devices the program sees (port 3240 by default)
${DEVICE_USAGE}
  --env KEY=VALUE          environment variable for the program (repeatable)
  --sandbox                confine the program (docs/sandbox.md): protected
                           interface classes blocked, limits on transfers in flight
  --grant VID[:PID]        with --sandbox: the program sees only matching devices
                           (hex, repeatable); implies --sandbox
  --audit                  print what the program does to devices on stderr
  -h, --help               this text

The program's exit status becomes this command's exit status.`;

const OPTIONS = {
  ...DEVICE_OPTIONS,
  env: { type: 'string', multiple: true },
  sandbox: { type: 'boolean' },
  grant: { type: 'string', multiple: true },
  audit: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies OptionSpecs;

/** The run command's options as RunOptions, or 'help'. Throws UsageError. */
export function parseRun(argv: string[]): RunOptions | 'help' {
  const { values: v, positionals, rest } = parseCommand(argv, OPTIONS, 'run');
  if (v.help) return 'help';
  const program = positionals[0];
  if (!program) throw new UsageError('no program given', 'run');
  const choice = transportChoiceOf(v, 'run', ['node', 'sim', 'webusb', 'usbip']);
  const env: Record<string, string> = {};
  for (const kv of v.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env expects KEY=VALUE, got '${kv}'`, 'run');
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const grants: DeviceFilter[] = (v.grant ?? []).map((g) => parseVidPid(g, '--grant'));
  const sandbox = v.sandbox || grants.length > 0;
  return {
    ...choice,
    program,
    args: rest,
    env,
    policy: sandbox ? (grants.length ? { grants } : {}) : undefined,
    onAudit: v.audit ? (e) => process.stderr.write(`libusb-wasm audit: ${e.action} ${describeDevice(e.device)} ${e.detail} -> ${e.outcome}\n`) : undefined,
  };
}
