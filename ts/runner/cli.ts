#!/usr/bin/env node
/**
 * The `libusb-wasm` command.
 *
 *   libusb-wasm run [options] <program.js> [-- program arguments]
 *   libusb-wasm models
 * @module
 */
import { modelNames, parseDeviceSpec } from '../sim/models/index.js';
import { describeDevice } from '../host/audit.js';
import type { DeviceFilter } from '../host/policy.js';
import { runProgram, type RunOptions } from './node.js';

const USAGE = `usage: libusb-wasm run [options] <program.js> [-- program arguments]
       libusb-wasm models

Runs a libusb program compiled with emcc against libusb-wasm in a worker thread.
It reaches the machine's real USB devices (through the npm 'usb' package),
unless simulated devices are asked for.

options:
  --transport node|sim     where devices come from (default: node, or sim when
                           any of the three options below is given)
  --devices a,b,...        simulated devices to plug in, by model name
  --device spec            one simulated device with options (repeatable),
                           e.g. msc:blocks=4096,image=disk.img
  --device-module file     ES module whose default export returns SimDevice objects
  --transport webusb       the webusb transport, over the simulated devices behind
                           navigator.usb's shape (protected classes refused, as
                           Chrome does; --allow-protected-classes to allow them),
                           or over the object --usb-module gives
  --usb-module file        ES module whose default export is (or returns) an object
                           of navigator.usb's shape, e.g. the usb package's WebUSB
  --env KEY=VALUE          environment variable for the program (repeatable)
  --sandbox                confine the program (see the README's "Sandbox and threat
                           model"): protected interface classes blocked, limits on
                           transfers in flight
  --grant VID[:PID]        with --sandbox: the program sees only matching devices
                           (hex, repeatable); implies --sandbox
  --audit                  print what the program does to devices on stderr
  -h, --help               this text

The program's exit status becomes this command's exit status.`;

function fail(message: string): never {
  process.stderr.write(`libusb-wasm: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function parseRun(argv: string[]): RunOptions {
  const devices: string[] = [];
  const env: Record<string, string> = {};
  const args: string[] = [];
  let program: string | undefined;
  let deviceModule: string | undefined;
  let transport: string | undefined;
  let usbModule: string | undefined;
  let allowProtected = false;
  let sandbox = false;
  let audit = false;
  const grants: DeviceFilter[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    } else if (program === undefined && a.startsWith('-')) {
      if (a === '--devices') devices.push(...value().split(',').filter(Boolean));
      else if (a === '--device') devices.push(value());
      else if (a === '--device-module') deviceModule = value();
      else if (a === '--transport') transport = value();
      else if (a === '--usb-module') usbModule = value();
      else if (a === '--allow-protected-classes') allowProtected = true;
      else if (a === '--sandbox') sandbox = true;
      else if (a === '--audit') audit = true;
      else if (a === '--grant') {
        const g = value();
        const m = /^([0-9a-f]{1,4})(?::([0-9a-f]{1,4}))?$/i.exec(g);
        if (!m) fail(`--grant expects VID or VID:PID in hex, got '${g}'`);
        grants.push(m[2] ? { vendorId: parseInt(m[1], 16), productId: parseInt(m[2], 16) } : { vendorId: parseInt(m[1], 16) });
        sandbox = true;
      }
      else if (a === '--env') {
        const kv = value();
        const eq = kv.indexOf('=');
        if (eq <= 0) fail(`--env expects KEY=VALUE, got '${kv}'`);
        env[kv.slice(0, eq)] = kv.slice(eq + 1);
      } else if (a === '-h' || a === '--help') {
        process.stdout.write(USAGE + '\n');
        process.exit(0);
      } else fail(`unknown option ${a}`);
    } else if (program === undefined) {
      program = a;
    } else {
      args.push(a);
    }
  }
  if (!program) fail('no program given');
  const wantsSim = devices.length > 0 || deviceModule !== undefined;
  transport ??= wantsSim ? 'sim' : 'node';
  if (!['node', 'sim', 'webusb'].includes(transport)) fail(`unknown transport '${transport}' (available: node, sim, webusb)`);
  if (transport === 'node' && wantsSim) fail('--devices, --device and --device-module are simulated devices: they need --transport sim (or webusb)');
  if ((usbModule || allowProtected) && transport !== 'webusb') fail('--usb-module and --allow-protected-classes go with --transport webusb');
  for (const d of devices) {
    try {
      parseDeviceSpec(d);
    } catch (e) {
      fail((e as Error).message);
    }
  }
  const common: Omit<RunOptions, 'transport'> = {
    program, args, env,
    policy: sandbox ? (grants.length ? { grants } : {}) : undefined,
    onAudit: audit ? (e) => process.stderr.write(`libusb-wasm audit: ${e.action} ${describeDevice(e.device)} ${e.detail} -> ${e.outcome}\n`) : undefined,
  };
  if (transport === 'node') return { ...common, transport: 'node' };
  if (transport === 'webusb') {
    return { ...common, transport: { kind: 'webusb', devices, deviceModule, usbModule, protectedClasses: allowProtected ? [] : undefined } };
  }
  return { ...common, devices, deviceModule, transport: 'sim' };
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'models') {
    process.stdout.write(modelNames().join('\n') + '\n');
    return;
  }
  if (command === '-h' || command === '--help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (command !== 'run') fail(command ? `unknown command '${command}'` : 'no command given');
  const options = parseRun(rest);
  let running;
  try {
    running = runProgram(options);
  } catch (e) {
    process.stderr.write(`libusb-wasm: ${(e as Error).message}\n`);
    process.exit(2);
  }
  process.exitCode = await running.exited;
}

void main(process.argv.slice(2));
