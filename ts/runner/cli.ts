#!/usr/bin/env node
/**
 * The `libusb-wasm` command.
 *
 *   libusb-wasm run [options] <program.js> [-- program arguments]
 *   libusb-wasm models
 * @module
 */
import { modelNames, parseDeviceSpec } from '../sim/models/index.js';
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
  if (transport === 'node') return { program, args, env, transport: 'node' };
  if (transport === 'webusb') {
    return { program, args, env, transport: { kind: 'webusb', devices, deviceModule, usbModule, protectedClasses: allowProtected ? [] : undefined } };
  }
  return { program, args, env, devices, deviceModule, transport: 'sim' };
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
