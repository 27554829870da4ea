/**
 * `libusb-wasm run`: run a libusb program compiled with emcc in a worker
 * thread, on real devices (the node transport) or simulated ones.
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeDevice } from '../../host/audit.js';
import { modelOptions, parseDeviceSpec } from '../../sim/models/index.js';
import { fileOptionNames } from '../../sim/models/model-options.js';
import type { DeviceFilter } from '../../usb/filters.js';
import type { RunOptions, SocketAllowList } from '../node/index.js';
import { SocketPolicy } from '../common/posix/socket-policy.js';
import { parseCommand, parseVidPid, UsageError, type OptionSpecs } from './args.js';

/** Where the example programs the package ships compiled sit (dist/examples/, next to the CLI; scripts/bundle.mjs). */
const EXAMPLES_DIR = fileURLToPath(new URL('./examples/', import.meta.url));

/** The names of the examples that ship compiled: listdevs, testlibusb, xusb, hotplugtest. */
export function exampleNames(): string[] {
  if (!fs.existsSync(EXAMPLES_DIR)) return [];
  return fs.readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.js') && !f.endsWith('.worker.js')).map((f) => f.slice(0, -3)).sort();
}

export const runUsage = () => `usage: libusb-wasm run [options] <program.js> [--] [program arguments]

Runs a libusb program compiled with emcc against libusb-wasm in a worker thread.
It reaches the machine's real USB devices (through the npm 'usb' package),
unless simulated devices are asked for. The program is a file (prog.js, with
prog.wasm next to it) or one of libusb's examples that ship compiled:
${exampleNames().join(', ')}.

options:
  --transport node|sim|webusb
                           where devices come from (default: node, or sim when
                           simulated devices are given)
  --devices a,b,...        simulated devices to plug in, by model name
  --device spec            one simulated device with options (repeatable),
                           e.g. msc:blocks=4096,image=disk.img or
                           hid:vendorId=1209 (IDs in hex; 'libusb-wasm models'
                           lists each model's options)
  --device-module file     ES module whose default export returns SimDevice objects
                           (with --transport webusb: simulated devices behind
                           navigator.usb's shape, protected classes refused as
                           Chrome does; --allow-protected-classes to allow them)
  --usb-module file        with --transport webusb: an ES module whose default
                           export is (or returns) an object of navigator.usb's
                           shape, e.g. the usb package's WebUSB
  --env KEY=VALUE          environment variable for the program (repeatable)
  --sandbox                confine the program (docs/sandbox.md): protected
                           interface classes blocked, limits on transfers in flight
  --grant VID[:PID]        with --sandbox: the program sees only matching devices
                           (hex, repeatable); implies --sandbox
  --audit                  print what the program does to devices on stderr
  --capture file.pcapng    record every transfer in pcapng (Wireshark reads it as
                           USB; docs/capture.md); replay it with
                           --device replay:file=file.pcapng
  --capture-snaplen bytes  keep at most this much of each transfer's data
                           (default: all)
  --capture-limit size     stop recording at this size, saying so (default 256M;
                           suffixes K, M, G; 0: no limit)
  --allow-listen HOST:PORT the program may listen there (repeatable; PORT or
                           HOST may be *); with --sandbox, or either of these,
                           its sockets reach only what is allowed
  --allow-connect HOST:PORT
                           the program may connect there (repeatable)
  -h, --help               this text

Standard input streams to the program as it reads it. Ctrl-C (SIGINT),
SIGTERM and SIGHUP reach the program as signals (its handlers run, or it
ends with 128 + the signal's number); a second Ctrl-C ends it at once.
The program's exit status becomes this command's exit status.`;

const OPTIONS = {
  transport: { type: 'string' },
  devices: { type: 'string', multiple: true },
  device: { type: 'string', multiple: true },
  'device-module': { type: 'string' },
  'usb-module': { type: 'string' },
  'allow-protected-classes': { type: 'boolean' },
  env: { type: 'string', multiple: true },
  sandbox: { type: 'boolean' },
  grant: { type: 'string', multiple: true },
  audit: { type: 'boolean' },
  capture: { type: 'string' },
  'capture-snaplen': { type: 'string' },
  'capture-limit': { type: 'string' },
  'allow-listen': { type: 'string', multiple: true },
  'allow-connect': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} satisfies OptionSpecs;

/** The run command's options as RunOptions, or 'help'. Throws UsageError. */
export function parseRun(argv: string[]): RunOptions | 'help' {
  const { values: v, positionals, rest } = parseCommand(argv, OPTIONS, 'run');
  if (v.help) return 'help';
  if (!positionals[0]) throw new UsageError('no program given', 'run');
  const program = resolveProgram(positionals[0]);
  const devices = [...(v.devices ?? []).flatMap((d) => d.split(',')).filter(Boolean), ...(v.device ?? [])];
  const deviceModule = v['device-module'];
  const wantsSim = devices.length > 0 || deviceModule !== undefined;
  const transport = v.transport ?? (wantsSim ? 'sim' : 'node');
  if (!['node', 'sim', 'webusb'].includes(transport)) throw new UsageError(`unknown transport '${transport}' (available: node, sim, webusb)`, 'run');
  if (transport === 'node' && wantsSim) {
    throw new UsageError('--devices, --device and --device-module are simulated devices: they need --transport sim (or webusb)', 'run');
  }
  if ((v['usb-module'] || v['allow-protected-classes']) && transport !== 'webusb') {
    throw new UsageError('--usb-module and --allow-protected-classes go with --transport webusb', 'run');
  }
  for (const d of devices) checkDeviceSpec(d);
  const env: Record<string, string> = {};
  for (const kv of v.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env expects KEY=VALUE, got '${kv}'`, 'run');
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const grants: DeviceFilter[] = (v.grant ?? []).map((g) => parseVidPid(g, '--grant'));
  const sandbox = v.sandbox || grants.length > 0;
  if ((v['capture-snaplen'] !== undefined || v['capture-limit'] !== undefined) && v.capture === undefined) {
    throw new UsageError('--capture-snaplen and --capture-limit go with --capture file.pcapng', 'run');
  }
  const listen = v['allow-listen'] ?? [];
  const connect = v['allow-connect'] ?? [];
  const sockets: SocketAllowList | undefined = listen.length || connect.length ? { listen, connect } : undefined;
  try {
    new SocketPolicy(sockets);
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^sockets\.(listen|connect)/, '--allow-$1'), 'run');
  }
  const common: RunOptions = {
    program,
    args: rest,
    env,
    capture: v.capture === undefined ? undefined : {
      file: v.capture,
      snapLength: v['capture-snaplen'] === undefined ? undefined : parseSize(v['capture-snaplen'], '--capture-snaplen'),
      maxBytes: v['capture-limit'] === undefined ? undefined : parseSize(v['capture-limit'], '--capture-limit') || Infinity,
    },
    stdin: process.stdin,
    sockets,
    policy: sandbox ? (grants.length ? { grants } : {}) : undefined,
    onAudit: v.audit ? (e) => process.stderr.write(`libusb-wasm audit: ${e.action} ${describeDevice(e.device)} ${e.detail} -> ${e.outcome}\n`) : undefined,
  };
  if (transport === 'node') return { ...common, transport: 'node' };
  if (transport === 'webusb') {
    return {
      ...common,
      transport: { kind: 'webusb', devices, deviceModule, usbModule: v['usb-module'], protectedClasses: v['allow-protected-classes'] ? [] : undefined },
    };
  }
  return { ...common, transport: 'sim', devices, deviceModule };
}

/**
 * The program a command line names: a file, or the name of an example that
 * ships compiled. A usage error when it is neither.
 */
function resolveProgram(name: string): string {
  if (fs.existsSync(name)) return name;
  const example = path.join(EXAMPLES_DIR, `${name}.js`);
  if (!name.includes('/') && fs.existsSync(example)) return example;
  throw new UsageError(`no program '${name}': give the .js file emcc wrote, or an example (${exampleNames().join(', ')})`, 'run');
}

/** A --device spec the host will accept: a known model, known options of the right types, files that exist. */
function checkDeviceSpec(text: string): void {
  try {
    const spec = parseDeviceSpec(text);
    const options = spec.options ?? {};
    for (const key of fileOptionNames(spec.model, options, modelOptions(spec.model))) {
      const file = String(options[key]);
      if (!fs.existsSync(file)) throw new Error(`${spec.model}: ${key}=${file}: no such file`);
    }
  } catch (e) {
    throw new UsageError((e as Error).message, 'run');
  }
}

/** A byte count: digits with an optional K, M or G (powers of 1024). */
function parseSize(text: string, option: string): number {
  const m = /^(\d+)([kmg]?)i?b?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${option} expects a size in bytes (like 4096, 64K, 100M or 2G), got '${text}'`, 'run');
  return Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase());
}
