// Real USB devices made by the guest's own kernel: dummy_hcd is a virtual
// host controller wired back to back to a virtual device controller (a UDC,
// "dummy_udc.N"), and a configfs gadget (libcomposite) is the device on it.
// The host side of the kernel sees an ordinary high-speed USB device on its
// own bus: usbfs, udev, lsusb, Chrome's WebUSB and the `usb` package all
// reach it as they would a device on a cable.
//
//   import * as gadget from './gadget.mjs';
//   gadget.loadModules({ controllers: 2 });          // dummy_hcd num=2, libcomposite, functions
//   gadget.create('zero', gadget.GADGET_ZERO);       // or a spec of your own (see create())
//   const dev = await gadget.bind('zero');            // first free UDC; waits for the host side
//   await gadget.unbind('zero');                      // the device leaves the bus ("unplug")
//   gadget.remove('zero');
//
// Functions (usb_f_ss_lb, loaded by loadModules): 'SourceSink' (an
// interface whose bulk IN always has data and whose bulk OUT takes data) and
// 'Loopback' (bulk OUT data comes back on bulk IN, in requests of
// bulk_buflen bytes, qlen of them buffered). Other configfs functions
// (FunctionFS, usb_f_fs, for a device of your own served from user space)
// work the same way once their module is loaded. dummy_hcd has no
// isochronous endpoints. Functions appear as interfaces in the order given.
//
// Everything here is synchronous sysfs/configfs work, except the waits for
// the host side, which poll with a deadline and say what they waited for.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Where configfs keeps gadgets. */
export const GADGETS = '/sys/kernel/config/usb_gadget';
const UDC_CLASS = '/sys/class/udc';
const USB_DEVICES = '/sys/bus/usb/devices';
const MODULES = ['libcomposite', 'usb_f_ss_lb'];

/**
 * Gadget Zero, laid out as Linux's g_zero (what test/c/gadget_zero.c
 * expects), with pid.codes test IDs 1209:000a: configuration 1 is a SourceSink function (bulk IN always has
 * data, bulk OUT takes data; both bytes (i % 512) % 63 in requests of 4096
 * bytes; a wrong byte halts the OUT endpoint; vendor requests 0x5b/0x5c
 * write and read back an ep0 buffer), configuration 2 a Loopback function
 * (OUT data comes back IN, in requests of 512 bytes, 256 of them buffered).
 */
export const GADGET_ZERO = {
  vendorId: 0x1209, productId: 0x000a, bcdDevice: 0x0100,
  manufacturer: 'libusb-wasm', product: 'Gadget Zero', serialNumber: 'GZ0001',
  configurations: [
    { label: 'source/sink', functions: [{ type: 'SourceSink', attributes: { pattern: 1, bulk_buflen: 4096 } }] },
    { label: 'loopback', functions: [{ type: 'Loopback', attributes: { bulk_buflen: 512, qlen: 256 } }] },
  ],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hex4 = (n) => `0x${n.toString(16).padStart(4, '0')}`;

/**
 * Load dummy_hcd with `controllers` UDCs (each one device), libcomposite and
 * the function modules, and mount configfs. Safe to call again; asking for
 * more controllers than the loaded dummy_hcd has is an error (unload first).
 */
export function loadModules({ controllers = 1 } = {}) {
  const loaded = fs.existsSync('/sys/module/dummy_hcd');
  if (loaded) {
    const have = Number(fs.readFileSync('/sys/module/dummy_hcd/parameters/num', 'utf8'));
    if (have < controllers) throw new Error(`dummy_hcd is loaded with num=${have}, ${controllers} controllers wanted: remove every gadget and rmmod dummy_hcd first`);
  } else {
    execFileSync('modprobe', ['dummy_hcd', `num=${controllers}`]);
  }
  execFileSync('modprobe', ['-a', ...MODULES]);
  if (!fs.existsSync(GADGETS)) {
    execFileSync('mount', ['-t', 'configfs', 'none', '/sys/kernel/config']);
  }
  return { udcs: udcs() };
}

/** The device controllers (UDCs) the kernel has, e.g. ['dummy_udc.0', 'dummy_udc.1']. */
export function udcs() {
  return fs.existsSync(UDC_CLASS) ? fs.readdirSync(UDC_CLASS).sort() : [];
}

/** UDCs no gadget is bound to. */
export function freeUdcs() {
  const taken = new Set(list().map((g) => g.udc).filter(Boolean));
  return udcs().filter((u) => !taken.has(u));
}

/** Every gadget in configfs: its name and the UDC it is bound to ('' when not bound). */
export function list() {
  if (!fs.existsSync(GADGETS)) return [];
  return fs.readdirSync(GADGETS).map((name) => ({ name, udc: read(path.join(GADGETS, name, 'UDC')) }));
}

/**
 * Make a gadget (not bound yet). `spec`: vendorId, productId, bcdDevice
 * (0x0100), bcdUSB (0x0200), manufacturer, product, serialNumber, and
 * `configurations`, each { label (its string), maxPower (mA, 100),
 * functions: [{ type: 'SourceSink', 'Loopback'... (a configfs function), instance (default:
 * derived from the gadget's name), attributes: { name: value } written into
 * the function's directory }] }. Configuration values are 1, 2... in order.
 */
export function create(name, spec) {
  if (!fs.existsSync(GADGETS)) throw new Error('configfs is not mounted: call loadModules() first');
  const dir = path.join(GADGETS, name);
  if (fs.existsSync(dir)) throw new Error(`gadget ${name} exists already: remove('${name}') first`);
  if (!spec.configurations?.length || spec.configurations.some((c) => !c.functions?.length)) {
    throw new Error(`gadget ${name}: every configuration needs functions`);
  }
  fs.mkdirSync(dir);
  try {
    write(dir, 'idVendor', hex4(spec.vendorId));
    write(dir, 'idProduct', hex4(spec.productId));
    write(dir, 'bcdDevice', hex4(spec.bcdDevice ?? 0x0100));
    write(dir, 'bcdUSB', hex4(spec.bcdUSB ?? 0x0200));
    const strings = path.join(dir, 'strings/0x409');
    fs.mkdirSync(strings);
    for (const key of ['manufacturer', 'product', 'serialNumber']) {
      if (spec[key] !== undefined) write(strings, key.toLowerCase(), spec[key]);
    }
    spec.configurations.forEach((c, ci) => {
      const config = path.join(dir, `configs/c.${ci + 1}`);
      fs.mkdirSync(config);
      write(config, 'MaxPower', String(c.maxPower ?? 100));
      if (c.label !== undefined) {
        fs.mkdirSync(path.join(config, 'strings/0x409'));
        write(path.join(config, 'strings/0x409'), 'configuration', c.label);
      }
      c.functions.forEach((f, fi) => {
        const fdir = path.join(dir, 'functions', `${f.type}.${f.instance ?? `${name}${ci + 1}${fi}`}`);
        fs.mkdirSync(fdir);
        for (const [k, v] of Object.entries(f.attributes ?? {})) write(fdir, k, String(v));
        fs.symlinkSync(fdir, path.join(config, path.basename(fdir)));
      });
    });
  } catch (e) {
    remove(name);
    throw new Error(`gadget ${name}: ${e.message}`);
  }
  return { name, dir };
}

/**
 * Bind a gadget to a UDC (default: the first free one): the device is
 * plugged in. Resolves once the host side has enumerated it and udev has
 * seen it, with where it is: { udc, sysfs (e.g. '3-1'), busnum, devnum }.
 */
export async function bind(name, { udc, timeoutMs = 30_000 } = {}) {
  const dir = gadgetDir(name);
  const target = udc ?? freeUdcs()[0];
  if (!target) throw new Error(`no free UDC for gadget ${name} (UDCs: ${udcs().join(', ') || 'none: loadModules() first'}; bound: ${list().filter((g) => g.udc).map((g) => `${g.name} on ${g.udc}`).join(', ')})`);
  const before = new Set(hostDevices(name).map((d) => d.sysfs));
  write(dir, 'UDC', target);
  const device = await waitFor(`gadget ${name} on ${target} to appear on the host side`, timeoutMs,
    () => hostDevices(name).find((d) => !before.has(d.sysfs) && d.configured));
  settle();
  return { udc: target, ...device };
}

/** Unbind a gadget from its UDC: the device leaves the bus. Resolves once the host side has removed it. */
export async function unbind(name, { timeoutMs = 30_000 } = {}) {
  const dir = gadgetDir(name);
  if (!read(path.join(dir, 'UDC'))) return;
  const present = hostDevices(name).map((d) => d.sysfs);
  write(dir, 'UDC', '');
  await waitFor(`gadget ${name} to leave the host side`, timeoutMs,
    () => !hostDevices(name).some((d) => present.includes(d.sysfs)));
  settle();
}

/** Unbind (if bound) and take a gadget apart; nothing happens if there is none of that name. */
export function remove(name) {
  const dir = path.join(GADGETS, name);
  if (!fs.existsSync(dir)) return;
  if (read(path.join(dir, 'UDC'))) write(dir, 'UDC', '');
  // configfs wants the reverse order of creation: links, config strings, configs, functions, strings
  for (const c of readdir(path.join(dir, 'configs'))) {
    const config = path.join(dir, 'configs', c);
    for (const e of readdir(config)) if (fs.lstatSync(path.join(config, e)).isSymbolicLink()) fs.unlinkSync(path.join(config, e));
    for (const s of readdir(path.join(config, 'strings'))) fs.rmdirSync(path.join(config, 'strings', s));
    fs.rmdirSync(config);
  }
  for (const f of readdir(path.join(dir, 'functions'))) fs.rmdirSync(path.join(dir, 'functions', f));
  for (const s of readdir(path.join(dir, 'strings'))) fs.rmdirSync(path.join(dir, 'strings', s));
  fs.rmdirSync(dir);
}

/** Remove every gadget. */
export function removeAll() {
  for (const g of list()) remove(g.name);
}

/**
 * Where the host side sees a gadget's device(s): sysfs name, bus and
 * device numbers, whether it is configured (enumeration done), and the
 * kernel driver bound to each interface of the active configuration
 * ({ '1.0': 'usbtest' }; '' where none is).
 */
export function hostDevices(name) {
  const dir = gadgetDir(name);
  const vid = read(path.join(dir, 'idVendor')).replace(/^0x/, '');
  const pid = read(path.join(dir, 'idProduct')).replace(/^0x/, '');
  const found = [];
  for (const e of readdir(USB_DEVICES)) {
    if (e.includes(':')) continue;
    const d = path.join(USB_DEVICES, e);
    if (read(path.join(d, 'idVendor')) !== vid || read(path.join(d, 'idProduct')) !== pid) continue;
    const drivers = {};
    for (const i of readdir(d)) {
      if (!i.startsWith(`${e}:`)) continue;
      const link = readlink(path.join(d, i, 'driver'));
      drivers[i.slice(e.length + 1)] = link ? path.basename(link) : '';
    }
    found.push({
      sysfs: e,
      busnum: Number(read(path.join(d, 'busnum'))),
      devnum: Number(read(path.join(d, 'devnum'))),
      configured: read(path.join(d, 'bConfigurationValue')) !== '',
      drivers,
    });
  }
  return found;
}

function gadgetDir(name) {
  const dir = path.join(GADGETS, name);
  if (!fs.existsSync(dir)) throw new Error(`no gadget ${name} (gadgets: ${list().map((g) => g.name).join(', ') || 'none'})`);
  return dir;
}

/** Let udev finish with the events so far (its rules set up /dev/bus/usb permissions and links). */
function settle() {
  try {
    execFileSync('udevadm', ['settle', '--timeout=20'], { stdio: 'ignore' });
  } catch {
    // no udev in this guest: nothing to wait for
  }
}

async function waitFor(what, timeoutMs, check) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function write(dir, file, value) {
  try {
    fs.writeFileSync(path.join(dir, file), `${value}\n`);
  } catch (e) {
    throw new Error(`writing '${value}' to ${path.join(dir, file)}: ${e.message}`);
  }
}

function read(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function readlink(file) {
  try {
    return fs.readlinkSync(file);
  } catch {
    return '';
  }
}

function readdir(dir) {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
