/**
 * The options that say where devices come from, shared by the commands that
 * build a transport (`run`, `usbip-serve`): their specs, their usage text,
 * and the {@link TransportChoice} they stand for.
 * @module
 */
import fs from 'node:fs';
import { modelOptions, parseDeviceSpec } from '../../sim/models/index.js';
import { fileOptionNames } from '../../sim/models/model-options.js';
import type { TransportChoice } from '../common/transports.js';
import { UsageError, type OptionSpecs, type OptionValues } from './args.js';

/** The device options, for parseCommand. */
export const DEVICE_OPTIONS = {
  transport: { type: 'string' },
  server: { type: 'string' },
  devices: { type: 'string', multiple: true },
  device: { type: 'string', multiple: true },
  'device-module': { type: 'string' },
  'usb-module': { type: 'string' },
  'allow-protected-classes': { type: 'boolean' },
} satisfies OptionSpecs;

/** Their usage lines. */
export const DEVICE_USAGE = `  --devices a,b,...        simulated devices to plug in, by model name
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
                           shape, e.g. the usb package's WebUSB`;

/** The transport the device options ask for (`transports`: the ones this command takes). Throws UsageError. */
export function transportChoiceOf(v: OptionValues<typeof DEVICE_OPTIONS>, command: string, transports: string[]): TransportChoice {
  const devices = [...(v.devices ?? []).flatMap((d) => d.split(',')).filter(Boolean), ...(v.device ?? [])];
  const deviceModule = v['device-module'];
  const wantsSim = devices.length > 0 || deviceModule !== undefined;
  const transport = v.transport ?? (wantsSim ? 'sim' : v.server !== undefined ? 'usbip' : 'node');
  if (!transports.includes(transport)) throw new UsageError(`unknown transport '${transport}' (available: ${transports.join(', ')})`, command);
  if ((transport === 'node' || transport === 'usbip') && wantsSim) {
    throw new UsageError('--devices, --device and --device-module are simulated devices: they need --transport sim (or webusb)', command);
  }
  if ((v['usb-module'] || v['allow-protected-classes']) && transport !== 'webusb') {
    throw new UsageError('--usb-module and --allow-protected-classes go with --transport webusb', command);
  }
  if ((transport === 'usbip') !== (v.server !== undefined)) {
    throw new UsageError(transport === 'usbip' ? '--transport usbip needs --server host[:port]' : '--server goes with --transport usbip', command);
  }
  for (const d of devices) checkDeviceSpec(d, command);
  if (transport === 'node') return { transport: 'node' };
  if (transport === 'usbip') return { transport: 'usbip', server: v.server };
  if (transport === 'webusb') {
    return { transport: { kind: 'webusb', devices, deviceModule, usbModule: v['usb-module'], protectedClasses: v['allow-protected-classes'] ? [] : undefined } };
  }
  return { transport: 'sim', devices, deviceModule };
}

/** A --device spec the host will accept: a known model, known options of the right types, files that exist. */
function checkDeviceSpec(text: string, command: string): void {
  try {
    const spec = parseDeviceSpec(text);
    const options = spec.options ?? {};
    for (const key of fileOptionNames(spec.model, options, modelOptions(spec.model))) {
      const file = String(options[key]);
      if (!fs.existsSync(file)) throw new Error(`${spec.model}: ${key}=${file}: no such file`);
    }
  } catch (e) {
    throw new UsageError((e as Error).message, command);
  }
}
