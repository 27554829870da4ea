/**
 * The `libusb-wasm` command.
 *
 *   libusb-wasm run [options] <program.js> [--] [program arguments]
 *   libusb-wasm cc [emcc arguments]
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

const USAGE = `usage: libusb-wasm <command> [options]

commands:
  run [options] <program.js> [--] [args]   run a libusb program compiled with emcc
                                           (or an example: listdevs, xusb, ...)
  cc [emcc arguments]                      compile a libusb program with emcc and
                                           this package's SDK
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
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
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
