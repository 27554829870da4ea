// Guest-side parts of the USB/IP interop tests (test/qemu/usbip.test.ts),
// run in the agent's process (Guest.call): Linux's own USB/IP, both ways.
//
//   exporting   the guest exports devices with usbip-host and usbipd (the
//               dummy_hcd Gadget Zero of gadget.mjs, QEMU's disk and
//               keyboard), for the usbip transport on the host to import;
//   importing   the guest's vhci-hcd attaches devices that the host's
//               usbip-serve exports (`usbip attach`), and the guest's own
//               drivers use them (usb-storage, usbhid/hidraw).
//
// The tools are Debian's usbip package, unpacked by test/qemu/prepare.sh.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as gadget from './gadget.mjs';

const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const USB_DEVICES = '/sys/bus/usb/devices';

async function sh(command, timeoutMs = 60_000) {
  try {
    return (await run('sh', ['-c', command], { timeout: timeoutMs })).stdout;
  } catch (e) {
    throw new Error(`${command}: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

function read(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Devices (not interfaces) in sysfs with their vid:pid. */
function usbDevices() {
  return fs.readdirSync(USB_DEVICES).filter((e) => !e.includes(':') && !e.startsWith('usb')).map((e) => ({
    busid: e,
    id: `${read(path.join(USB_DEVICES, e, 'idVendor'))}:${read(path.join(USB_DEVICES, e, 'idProduct'))}`,
    driver: path.basename(fs.realpathSync(path.join(USB_DEVICES, e, 'driver'), { throwIfNoEntry: false }) ?? ''),
  }));
}

async function waitFor(what, timeoutMs, check) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Export devices: load usbip-host and vhci-hcd, plug in Gadget Zero
 * (dummy_hcd), `usbip bind` it and the devices with the given vid:pids
 * (QEMU's), and start usbipd on port 3240. Returns the busid of each.
 */
export async function exportDevices(ids) {
  await sh('modprobe -a usbip-host vhci-hcd');
  gadget.loadModules({ controllers: 1 });
  if (!gadget.list().some((g) => g.name === 'zero')) gadget.create('zero', gadget.GADGET_ZERO);
  const zero = await gadget.bind('zero');
  const busids = { zero: zero.sysfs };
  for (const id of ids) {
    const d = usbDevices().find((x) => x.id === id);
    if (!d) throw new Error(`no device ${id} in the guest (devices: ${usbDevices().map((x) => `${x.busid} ${x.id}`).join(', ')})`);
    busids[id] = d.busid;
  }
  for (const busid of Object.values(busids)) await sh(`usbip bind -b ${busid}`);
  // usbipd as a daemon; it logs to syslog, which nobody reads here
  await sh('usbipd -D --tcp-port 3240');
  await waitFor('usbipd to list the devices', 30_000, async () => {
    const out = await sh('usbip list -r 127.0.0.1 2>&1 || true');
    return Object.values(busids).every((b) => out.includes(`${b}:`)) ? out : undefined;
  });
  return busids;
}

/** `usbip unbind`: the device leaves usbip-host (an importer's connection is closed). */
export async function unbindExport(busid) {
  return sh(`usbip unbind -b ${busid}`);
}

/** The guest kernel's messages that mention usbip-host's unlinks (stub_complete: "unlinked by a call to usb_unlink_urb()"). */
export async function unlinkMessages() {
  return (await sh('dmesg')).split('\n').filter((l) => /unlinked by a call to usb_unlink_urb|unlink urb/.test(l));
}

/**
 * `usbip attach -r host -b busid`, then wait until the device is enumerated
 * on a vhci-hcd port (it appears a moment after attach returns) and its
 * drivers are bound. Returns its sysfs name and vhci port.
 */
export async function attach(host, busid, id) {
  const before = new Set(usbDevices().map((d) => d.busid));
  const t0 = performance.now();
  await sh(`usbip attach -r ${host} -b ${busid}`);
  const device = await waitFor(`${id} to appear after usbip attach`, 60_000, () => usbDevices().find((d) => d.id === id && !before.has(d.busid)
    && read(path.join(USB_DEVICES, d.busid, 'bConfigurationValue')) !== ''));
  await sh('udevadm settle --timeout=30 || true');
  const ports = await sh('usbip port');
  const port = /Port (\d+): <Port in Use>[\s\S]*?\n\s*\d+-\d+ -> usbip:\/\/[^/]+\/(\S+)/g;
  let m;
  let vhciPort;
  while ((m = port.exec(ports))) if (m[2] === busid) vhciPort = Number(m[1]);
  return { sysfs: device.busid, port: vhciPort, ms: Math.round(performance.now() - t0), ports };
}

/** `usbip detach -p port`, then wait until the device has left. */
export async function detach(vhciPort, sysfs) {
  await sh(`usbip detach -p ${vhciPort}`);
  await waitFor(`${sysfs} to leave after usbip detach`, 30_000, () => !fs.existsSync(path.join(USB_DEVICES, sysfs)));
}

/** The raw descriptors the kernel read from a device (sysfs `descriptors`: device, then every configuration), in hex. */
export function rawDescriptors(sysfs) {
  return fs.readFileSync(path.join(USB_DEVICES, sysfs, 'descriptors')).toString('hex');
}

/** The drivers bound to a device's interfaces. */
export function interfaceDrivers(sysfs) {
  return fs.readdirSync(path.join(USB_DEVICES, sysfs)).filter((e) => e.startsWith(`${sysfs}:`)).map((e) => {
    const link = path.join(USB_DEVICES, sysfs, e, 'driver');
    return fs.existsSync(link) ? path.basename(fs.realpathSync(link)) : '';
  });
}

/** Mount the disk (ext2) of a USB mass-storage device read-only and read a file from it. */
export async function readFileFromDisk(sysfs, file) {
  const disk = await waitFor(`a disk on ${sysfs}`, 60_000, async () => {
    const out = await sh(`ls -d /sys/bus/usb/devices/${sysfs}/${sysfs}:*/host*/target*/*/block/* 2>/dev/null || true`);
    return out.trim().split('\n').filter(Boolean).map((p) => path.basename(p))[0];
  });
  await waitFor(`/dev/${disk}`, 30_000, () => fs.existsSync(`/dev/${disk}`));
  const mnt = fs.mkdtempSync('/tmp/usbip-disk-');
  // ext2 is mounted by the ext4 module, which wants crc32c (the kernel's own request for it finds no modprobe here)
  await sh('modprobe -a crc32c_generic ext4');
  await sh(`mount -t ext2 -o ro /dev/${disk} ${mnt}`);
  try {
    return { disk, text: fs.readFileSync(path.join(mnt, file), 'utf8') };
  } finally {
    await sh(`umount ${mnt}`);
    fs.rmdirSync(mnt);
  }
}

/**
 * Through the device's /dev/hidraw node (usbhid + hidraw): write an output
 * report, then read the input report that comes back (within `timeoutMs`).
 * Both with their report ID byte first. A child process does the I/O, so a
 * device that never answers cannot block the agent (a hidraw write waits
 * for the interrupt OUT transfer).
 */
export async function hidrawExchange(sysfs, report, timeoutMs = 20_000) {
  const node = await waitFor(`a hidraw node for ${sysfs}`, 30_000, () => {
    for (const h of fs.existsSync('/sys/class/hidraw') ? fs.readdirSync('/sys/class/hidraw') : []) {
      const target = fs.realpathSync(`/sys/class/hidraw/${h}/device`);
      if (target.includes(`/${sysfs}/`) && fs.existsSync(`/dev/${h}`)) return `/dev/${h}`;
    }
    return undefined;
  });
  const script = `
    const fs = require('node:fs');
    const fd = fs.openSync(${JSON.stringify(node)}, 'r+');
    const input = Buffer.alloc(${report.length});
    fs.read(fd, input, 0, input.length, null, (e, n) => { process.stdout.write(e ? 'error ' + e.message : input.subarray(0, n).toString('hex')); process.exit(0); });
    setTimeout(() => fs.writeSync(fd, Buffer.from(${JSON.stringify(report)})), 200);`;
  const child = spawn(process.execPath, ['-e', script]);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await new Promise((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  if (!/^[0-9a-f]+$/.test(out)) throw new Error(`no input report from ${node} within ${timeoutMs} ms: ${out} ${err}`);
  return { node, input: [...Buffer.from(out, 'hex')] };
}
