/**
 * What Node gives the transport factory (../common/transports.ts): files
 * and modules relative to a working directory, the node transport (loaded
 * only when asked for), TCP and WebSocket connections to USB/IP servers.
 * The host's worker and `libusb-wasm usbip-serve` build their transports
 * with it.
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectFromNode } from '../../transports/usbip/node.js';
import type { TransportEnvironment } from '../common/transports.js';

/** Node's transport environment, with relative paths starting at `cwd`. */
export function nodeTransportEnvironment(cwd: string, log: (message: string) => void): TransportEnvironment {
  return {
    log,
    readFile: (file) => new Uint8Array(fs.readFileSync(path.resolve(cwd, file))),
    importModule: (file) => import(pathToFileURL(path.resolve(cwd, file)).href),
    nodeTransport: async (logTo) => (await import('../../transports/node/index.js')).createNodeTransport({ log: logTo }),
    usbipConnect: connectFromNode,
  };
}
