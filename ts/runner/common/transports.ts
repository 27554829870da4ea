/**
 * The one transport factory: what both host workers (Node's and the
 * browser's) build from a {@link TransportSpec}. A transport name means the
 * same thing everywhere:
 * - `sim`: simulated devices on a simulated bus, reached directly;
 * - `webusb`: WebUSB, over the platform's `navigator.usb` (browsers), an
 *   object of its shape from a module (`usbModule`, Node), or simulated
 *   devices behind its shape (`devices`, `deviceModule`: SimUSB, with
 *   Chrome's rules);
 * - `node`: real devices through the npm `usb` package (Node only);
 * - `usbip`: the devices of a USB/IP server (over TCP in Node, through the
 *   package's WebSocket bridge in browsers).
 * What differs between environments (reading files, loading modules, the
 * platform's navigator.usb, the node transport, connections to USB/IP
 * servers) comes in a {@link TransportEnvironment}.
 * @module
 */
import { SimBus } from '../../sim/bus.js';
import { SimControl } from '../../sim/control.js';
import type { SimDevice } from '../../sim/device.js';
import { createDevice, type ModelSpec } from '../../sim/models/index.js';
import { SimTransport } from '../../sim/transport.js';
import { SimUSB, type ResultDelivery } from '../../sim/webusb/sim-usb.js';
import type { Transport } from '../../transports/transport.js';
import { UsbipTransport, type UsbipConnector } from '../../transports/usbip/index.js';
import { connectWebSocket } from '../../transports/usbip/websocket.js';
import { WebUsbTransport } from '../../transports/webusb/index.js';
import type { USBLike } from '../../transports/webusb/types.js';

/** Which transport a host builds, and with what. */
export type TransportSpec = SimTransportSpec | WebUsbTransportSpec | NodeTransportSpec | UsbipTransportSpec;

/** Simulated devices, reached directly. */
export interface SimTransportSpec {
  /** The sim transport. */
  kind: 'sim';
  /** Devices to plug in at start: model specs such as 'loopback' or 'msc:blocks=4096'. */
  devices?: (ModelSpec | string)[];
  /** Node: an ES module whose default export returns more SimDevice objects (or a promise of them). */
  deviceModule?: string;
}

/**
 * WebUSB: the platform's navigator.usb (browsers), the object a module
 * gives (`usbModule`, Node: e.g. the `usb` package's `new WebUSB(...)`), or
 * simulated devices behind navigator.usb's shape (`devices`, `deviceModule`).
 */
export interface WebUsbTransportSpec {
  /** The webusb transport. */
  kind: 'webusb';
  /** Node: an ES module whose default export is (or returns) an object of navigator.usb's shape. */
  usbModule?: string;
  /** Simulated devices behind navigator.usb's shape, plugged in at start. */
  devices?: (ModelSpec | string)[];
  /** Node: an ES module whose default export returns more SimDevice objects. */
  deviceModule?: string;
  /** Interface classes the simulated navigator.usb refuses to claim (default: Chrome's protected classes). */
  protectedClasses?: number[];
  /**
   * How the simulated navigator.usb settles its calls: 'microtask' (default,
   * as soon as the device answers) or 'task' (one task per answer, as
   * Chrome delivers WebUSB results).
   */
  resultDelivery?: ResultDelivery;
}

/** Real devices through the npm `usb` package (Node only). */
export interface NodeTransportSpec {
  /** The node transport. */
  kind: 'node';
}

/** The devices a USB/IP server exports (docs/usbip.md). */
export interface UsbipTransportSpec {
  /** The usbip transport. */
  kind: 'usbip';
  /**
   * The server: `host[:port]` (TCP, port 3240 by default; Node) or the
   * `ws://` URL of a `libusb-wasm usbip-bridge` (browsers; Node too).
   */
  server: string;
  /** How often the server's device list is read again, to notice arrivals and departures (ms, default 1000). */
  pollIntervalMs?: number;
}

/** What the environment provides to build transports. */
export interface TransportEnvironment {
  /** Diagnostics. */
  log: (message: string) => void;
  /** Node: read a file (a disk image named by a device option), relative to the host's working directory. */
  readFile?: (path: string) => Uint8Array;
  /** Node: import an ES module by path, relative to the host's working directory. */
  importModule?: (path: string) => Promise<Record<string, unknown>>;
  /** Browsers: the worker's own navigator.usb. */
  navigatorUsb?: USBLike;
  /** Node: build the node transport (loaded only when asked for). */
  nodeTransport?: (log: (message: string) => void) => Promise<Transport>;
  /** Connections to USB/IP servers (default: the platform's WebSocket, to a bridge). */
  usbipConnect?: UsbipConnector;
}

/** A built transport, and remote control of its simulated devices when it has some. */
export interface BuiltTransport {
  /** The transport. */
  transport: Transport;
  /** Plug, unplug and inspect its simulated devices (sim, or webusb over simulated devices). */
  sim?: SimControl;
}

/** Build the transport a spec asks for. Throws with a message that says what to do. */
export async function buildTransport(spec: TransportSpec, env: TransportEnvironment): Promise<BuiltTransport> {
  switch (spec.kind) {
    case 'sim': {
      const bus = new SimBus();
      const devices = await simDevices(spec, env);
      return { transport: new SimTransport(bus, { devices }), sim: new SimControl(bus, devices) };
    }
    case 'webusb': {
      if (spec.usbModule) {
        if (spec.devices?.length || spec.deviceModule) throw new Error('webusb: give usbModule or simulated devices, not both');
        return { transport: new WebUsbTransport(await loadUsbModule(spec.usbModule, env), { log: env.log }) };
      }
      if (spec.devices || spec.deviceModule) {
        const bus = new SimBus();
        const devices = await simDevices(spec, env);
        for (const d of devices) bus.plug(d);
        const usb = new SimUSB(bus, { protectedClasses: spec.protectedClasses, resultDelivery: spec.resultDelivery });
        return { transport: new WebUsbTransport(usb, { log: env.log }), sim: new SimControl(bus, devices) };
      }
      if (!env.navigatorUsb) {
        throw new Error(env.importModule
          ? 'webusb in Node needs a navigator.usb-shaped object (usbModule) or simulated devices (devices)'
          : 'navigator.usb is not available in this worker. WebUSB in dedicated workers needs Chrome or Edge 118 '
            + 'or newer, and a secure context (https, or http://localhost).');
      }
      return { transport: new WebUsbTransport(env.navigatorUsb, { log: env.log }) };
    }
    case 'node':
      if (!env.nodeTransport) throw new Error("the node transport (real devices through the npm 'usb' package) exists only in Node");
      return { transport: await env.nodeTransport(env.log) };
    case 'usbip':
      if (typeof spec.server !== 'string' || !spec.server) throw new Error("transport 'usbip' needs a server (host[:port] or a bridge's ws:// URL)");
      return {
        transport: new UsbipTransport({
          server: spec.server, pollIntervalMs: spec.pollIntervalMs, log: env.log,
          connect: env.usbipConnect ?? ((address, handlers) => connectWebSocket(address, handlers)),
        }),
      };
    default:
      throw new Error(`unknown transport '${(spec as { kind: string }).kind}' (available: sim, webusb, node, usbip)`);
  }
}

/** The simulated devices a spec names: model specs, then a device module's. */
async function simDevices(spec: SimTransportSpec | WebUsbTransportSpec, env: TransportEnvironment): Promise<SimDevice[]> {
  const devices = (spec.devices ?? []).map((s) => createDevice(s, { readFile: env.readFile, log: env.log }));
  if (spec.deviceModule) {
    if (!env.importModule) throw new Error('deviceModule needs Node; in browsers, plug devices in with host.sim.plug()');
    const mod = await env.importModule(spec.deviceModule);
    const make = mod.default ?? mod.devices;
    if (typeof make !== 'function') throw new Error(`${spec.deviceModule} must export a default function returning SimDevice objects`);
    devices.push(...(await (make as () => SimDevice[] | Promise<SimDevice[]>)()));
  }
  return devices;
}

/** An object of navigator.usb's shape from a module: its default export, or what that function returns. */
async function loadUsbModule(file: string, env: TransportEnvironment): Promise<USBLike> {
  if (!env.importModule) throw new Error('usbModule needs Node');
  const mod = await env.importModule(file);
  const made = typeof mod.default === 'function' ? await (mod.default as () => unknown)() : mod.default;
  const usb = made as Partial<USBLike> | undefined;
  if (!usb || typeof usb.getDevices !== 'function' || typeof usb.addEventListener !== 'function') {
    throw new Error(`${file} must export (as default) an object of navigator.usb's shape, or a function returning one`);
  }
  return usb as USBLike;
}

/** The transport options runProgram(), createHost() and createContext() take, in Node and in browsers. */
export interface TransportChoice {
  /**
   * Where devices come from: 'sim' (simulated devices), 'webusb' (WebUSB:
   * the browser's navigator.usb, or simulated devices behind its shape when
   * `devices` are given), 'node' (real devices through the npm `usb`
   * package, Node only), 'usbip' (the devices of the USB/IP server
   * `server`), or a full {@link TransportSpec}. Default: 'sim' when
   * simulated devices are asked for, 'usbip' when a server is, else the
   * platform's own ('node' in Node, 'webusb' in browsers).
   */
  transport?: 'sim' | 'webusb' | 'node' | 'usbip' | TransportSpec;
  /**
   * With 'usbip': the USB/IP server, `host[:port]` (Node; port 3240 by
   * default) or a `libusb-wasm usbip-bridge` WebSocket URL (browsers).
   */
  server?: string;
  /** Simulated devices to plug in at start: model specs such as 'loopback' or 'msc:blocks=4096'. */
  devices?: (ModelSpec | string)[];
  /** Node: an ES module whose default export returns more SimDevice objects. */
  deviceModule?: string;
  /** With webusb over simulated devices: interface classes whose claim is refused (default: Chrome's protected classes). */
  protectedClasses?: number[];
}

/** The spec a {@link TransportChoice} stands for; `platform` is the environment's own transport. */
export function transportSpecOf(choice: TransportChoice, platform: 'node' | 'webusb'): TransportSpec {
  if (typeof choice.transport === 'object') return choice.transport;
  const wantsSim = choice.devices !== undefined || choice.deviceModule !== undefined;
  const kind = choice.transport ?? (wantsSim ? 'sim' : choice.server !== undefined ? 'usbip' : platform);
  if (choice.server !== undefined && kind !== 'usbip') throw new Error(`server goes with transport 'usbip', not '${kind}'`);
  switch (kind) {
    case 'sim':
      return { kind: 'sim', devices: choice.devices ?? [], deviceModule: choice.deviceModule };
    case 'webusb':
      return { kind: 'webusb', devices: choice.devices, deviceModule: choice.deviceModule, protectedClasses: choice.protectedClasses };
    case 'node':
      if (wantsSim) throw new Error("simulated devices (devices, deviceModule) need transport 'sim' or 'webusb', not 'node'");
      if (platform !== 'node') throw new Error("the node transport exists only in Node; in browsers use 'webusb' or 'sim'");
      return { kind: 'node' };
    case 'usbip':
      if (wantsSim) throw new Error("simulated devices (devices, deviceModule) need transport 'sim' or 'webusb', not 'usbip'");
      if (!choice.server) throw new Error("transport 'usbip' needs server: host[:port] or a bridge's ws:// URL");
      return { kind: 'usbip', server: choice.server };
    default:
      throw new Error(`unknown transport '${String(kind)}' (available: sim, webusb${platform === 'node' ? ', node' : ''}, usbip)`);
  }
}

/** Whether a choice asks for simulated devices (so its host has remote control of them). */
export function hasSimulatedDevices(choice: TransportChoice): boolean {
  const t = choice.transport;
  if (typeof t === 'object') return t.kind === 'sim' || (t.kind === 'webusb' && !t.usbModule);
  return t === 'sim' || choice.devices !== undefined || choice.deviceModule !== undefined;
}
