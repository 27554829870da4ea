/**
 * The `libusb-wasm` command.
 *
 *   libusb-wasm run [options] <program.js> [--] [program arguments]
 *   libusb-wasm cc [emcc arguments]
 *   libusb-wasm usbip-serve [options]
 *   libusb-wasm usbip-bridge --allow HOST[:PORT] [options]
 *   libusb-wasm models
 *   libusb-wasm --version
 *
 * Each command lives in a module of its own here; this one dispatches and
 * reports usage errors (one line and "see --help", exit status 2).
 * @module
 */
import fs from 'node:fs';
import { runProgram } from '../node/index.js';
import { UsageError } from './args.js';
import { CC_USAGE, runCc } from './cc.js';
import { describeModels } from './models.js';
import { parseRun, runUsage } from './run.js';
import { forwardSignals } from './signals.js';
import { serveUntilInterrupted } from './until-interrupted.js';
import { parseUsbipBridge, USBIP_BRIDGE_USAGE } from './usbip-bridge.js';
import { parseUsbipServe, USBIP_SERVE_USAGE } from './usbip-serve.js';

const USAGE = `usage: libusb-wasm <command> [options]

commands:
  run [options] <program.js> [--] [args]   run a libusb program compiled with emcc
                                           (or an example: listdevs, xusb, ...)
  cc [emcc arguments]                      compile a libusb program with emcc and
                                           this package's SDK
  usbip-serve [options]                    export USB devices over USB/IP
  usbip-bridge --allow HOST[:PORT]         let browsers reach USB/IP servers (WebSocket)
  models                                   the simulated device models and their options

  libusb-wasm <command> --help             a command's options
  libusb-wasm --version                    this package's version`;

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case '--version':
    case '-V':
      process.stdout.write(`libusb-wasm ${version()}\n`);
      return 0;
    case '-h':
    case '--help':
      process.stdout.write(USAGE + '\n');
      return 0;
    case 'models':
      process.stdout.write(describeModels() + '\n');
      return 0;
    case 'cc':
      if (rest.length === 0) throw new UsageError('no emcc arguments given (e.g. libusb-wasm cc prog.c -o prog.js)', 'cc');
      if (rest[0] === '--help' || rest[0] === '-h') {
        process.stdout.write(CC_USAGE + '\n');
        return 0;
      }
      return runCc(rest);
    case 'run': {
      const options = parseRun(rest);
      if (options === 'help') {
        process.stdout.write(runUsage() + '\n');
        return 0;
      }
      let running;
      try {
        running = runProgram(options);
      } catch (e) {
        process.stderr.write(`libusb-wasm: ${(e as Error).message}\n`);
        return 2;
      }
      return forwardSignals(running);
    }
    case 'usbip-serve': {
      const options = parseUsbipServe(rest);
      if (options === 'help') {
        process.stdout.write(USBIP_SERVE_USAGE + '\n');
        return 0;
      }
      const { startUsbipServer } = await import('../usbip/index.js');
      return serveUntilInterrupted('usbip-serve', async () => {
        const server = await startUsbipServer(options);
        const list = server.devices().map((d) => `${d.busid} (${hex4(d.vendorId)}:${hex4(d.productId)})`);
        return { summary: `listening on ${server.host}:${server.port}; exporting ${list.length ? list.join(', ') : 'no devices yet'}`, close: () => server.close() };
      });
    }
    case 'usbip-bridge': {
      const options = parseUsbipBridge(rest);
      if (options === 'help') {
        process.stdout.write(USBIP_BRIDGE_USAGE + '\n');
        return 0;
      }
      const { UsbipBridge } = await import('../usbip/index.js');
      return serveUntilInterrupted('usbip-bridge', async () => {
        const bridge = await UsbipBridge.start(options);
        return { summary: `listening on ${bridge.url}`, close: () => bridge.close() };
      });
    }
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (e) => {
  if (e instanceof UsageError) {
    process.stderr.write(`libusb-wasm: ${e.message}\nsee: libusb-wasm ${e.command ? `${e.command} ` : ''}--help\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`libusb-wasm: ${e?.stack ?? e}\n`);
  process.exitCode = 1;
});
