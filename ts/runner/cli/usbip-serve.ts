/**
 * `libusb-wasm usbip-serve`: export devices (real ones through the node
 * transport, or simulated ones) to USB/IP clients such as Linux's
 * `usbip attach`, until interrupted.
 * @module
 */
import type { UsbipServeOptions } from '../usbip/index.js';
import { parseCommand, parseDeviceFilter, parsePort, type OptionSpecs } from './args.js';
import { DEVICE_OPTIONS, DEVICE_USAGE, transportChoiceOf } from './device-options.js';

export const USBIP_SERVE_USAGE = `usage: libusb-wasm usbip-serve [options]

Exports USB devices over USB/IP (protocol 1.1.1, as Linux's usbipd) until
interrupted: the machine's real devices (through the npm 'usb' package), or
simulated ones. Clients import them with e.g. \`usbip attach -r HOST -b BUSID\`,
or with libusb-wasm's usbip transport.

USB/IP has no authentication and no encryption: anyone who reaches the port
can take the devices. It listens on 127.0.0.1 unless --host says otherwise;
to reach it from another machine, tunnel it (ssh -L 3240:127.0.0.1:3240 HOST).

options:
  --transport node|sim|webusb
                           where devices come from (default: node, or sim when
                           simulated devices are given)
${DEVICE_USAGE}
  --filter F               export only devices matching F (repeatable): VID[:PID]
                           in hex, or WebUSB filter fields such as classCode=8 or
                           vendorId=0x1209,productId=0x0001,serialNumber=X
  --host ADDRESS           address to listen on (default 127.0.0.1)
  --port N                 TCP port (default 3240; 0: any free port)
  --trace                  log every command and reply (what clients ask of devices)
  -h, --help               this text`;

const OPTIONS = {
  ...DEVICE_OPTIONS,
  filter: { type: 'string', multiple: true },
  host: { type: 'string' },
  port: { type: 'string' },
  trace: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies OptionSpecs;

/** The command's options, or 'help'. Throws UsageError. */
export function parseUsbipServe(argv: string[]): UsbipServeOptions | 'help' {
  const { values: v } = parseCommand(argv, OPTIONS, 'usbip-serve', false);
  if (v.help) return 'help';
  const choice = transportChoiceOf(v, 'usbip-serve', ['node', 'sim', 'webusb']);
  const port = parsePort(v.port, 'usbip-serve');
  return { ...choice, filters: (v.filter ?? []).map((f) => parseDeviceFilter(f, '--filter')), host: v.host, port, trace: v.trace };
}
