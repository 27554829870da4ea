#!/usr/bin/env node
/**
 * The entry of the `libusb-wasm` command (dist/cli.js). A worker takes tens
 * of milliseconds to boot: for `run`, the program's worker boots now, on
 * another core, while this thread loads the rest of the runner (index.ts),
 * which then hands it the program. Everything else is in index.ts.
 * @module
 */
import { spareProgramWorkers } from '../node/program-workers.js';

if (process.argv[2] === 'run') spareProgramWorkers.bootOne();
await import('./index.js');
