/**
 * `libusb-wasm usbip-bridge`: the WebSocket bridge through which the usbip
 * transport in a browser reaches USB/IP servers, forwarding only to the
 * servers it is told to allow.
 * @module
 */
import type { UsbipBridgeOptions } from '../usbip/index.js';
import { parseCommand, parsePort, UsageError, type OptionSpecs } from './args.js';

export const USBIP_BRIDGE_USAGE = `usage: libusb-wasm usbip-bridge --allow HOST[:PORT] [options]

A WebSocket endpoint for the usbip transport in browsers (which cannot open
TCP connections): a page connects to ws://ADDRESS:PORT/?server=HOST:PORT and
the bridge carries the bytes to that USB/IP server, if it is allowed. It
forwards to no other address.

options:
  --allow HOST[:PORT]      a USB/IP server pages may reach (repeatable, at least
                           one; port 3240 by default). With one, pages may leave
                           out ?server=.
  --allow-origin ORIGIN    pages from ORIGIN may connect (repeatable; * for any).
                           Default: pages served from this machine only
                           (localhost, 127.0.0.1, [::1])
  --host ADDRESS           address to listen on (default 127.0.0.1)
  --port N                 port (default 3241; 0: any free port)
  -h, --help               this text`;

const OPTIONS = {
  allow: { type: 'string', multiple: true },
  'allow-origin': { type: 'string', multiple: true },
  host: { type: 'string' },
  port: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies OptionSpecs;

/** The command's options, or 'help'. Throws UsageError. */
export function parseUsbipBridge(argv: string[]): UsbipBridgeOptions | 'help' {
  const { values: v } = parseCommand(argv, OPTIONS, 'usbip-bridge', false);
  if (v.help) return 'help';
  if (!v.allow?.length) throw new UsageError('give at least one --allow HOST[:PORT] (the USB/IP servers pages may reach)', 'usbip-bridge');
  for (const o of v['allow-origin'] ?? []) {
    if (o === '*') continue;
    try {
      new URL(o);
    } catch {
      throw new UsageError(`--allow-origin ${o} is not an origin like https://ide.example (or *)`, 'usbip-bridge');
    }
  }
  const port = parsePort(v.port, 'usbip-bridge');
  return { allow: v.allow, allowOrigins: v['allow-origin'], host: v.host, port };
}
