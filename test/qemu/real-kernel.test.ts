/**
 * The node transport against a real Linux kernel: Debian's kernel boots
 * under QEMU (software emulation) with QEMU's USB devices on an xHCI
 * controller, and our programs run inside it through the `usb` package.
 * Everything the tests compare against comes from the guest's kernel (sysfs,
 * lsusb) or from the disk image the test made. One boot for the whole file.
 *
 * Run alone: npx vitest run test/qemu (after `make build`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descriptorFields } from './descriptors.js';
import { bootGuest, imageBlock, letOthersReachProject, makeDiskImage, type Guest } from './qemu.js';
import { captureEvents, describeUrb, sameUrb, usbmonTextEvents } from './usbmon-text.js';
import { EXAMPLES, run } from '../helpers.js';

const PROJECT_TEST_QEMU = path.dirname(new URL(import.meta.url).pathname);

const KBD = '0627:0001';
const DISK = '46f4:0001';
const AUDIO = '46f4:0002';
const DISK_BLOCKS = 2048;

interface RunResult { code: number | null; stdout: string; stderr: string; ms: number }

let guest: Guest;
let image: Uint8Array;
let imageDir: string;

beforeAll(async () => {
  if (process.env.LIBUSB_WASM_SKIP_QEMU) return;
  imageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-disk-'));
  const file = path.join(imageDir, 'disk.img');
  image = makeDiskImage(file, DISK_BLOCKS);
  letOthersReachProject();
  guest = await bootGuest({
    qemuArgs: [
      '-drive', `if=none,id=disk,format=raw,file=${file},readonly=on`,
      '-chardev', 'ringbuf,id=ftdi0',
      '-audiodev', 'none,id=snd0',
    ],
    devices: [
      { id: 'kbd', device: 'usb-kbd' },
      { id: 'stick', device: 'usb-storage,drive=disk' },
      { id: 'serial', device: 'usb-serial,chardev=ftdi0' },
      { id: 'audio', device: 'usb-audio,audiodev=snd0' },
    ],
  });
}, 300_000);

afterAll(async () => {
  await guest?.close();
  if (imageDir) fs.rmSync(imageDir, { recursive: true, force: true });
});

/** A libusb program of build/ run in the guest through the runner (node transport, its default). */
async function program(name: string, args: string[] = []): Promise<RunResult> {
  const r = await guest.call<RunResult>('run', [name, args]);
  expect(r.code, `${name} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).not.toBeNull();
  return r;
}

/** A shell command in the guest; its stdout. */
async function sh(command: string): Promise<string> {
  return (await guest.run(['sh', '-c', command])).stdout;
}

/** Which kernel driver holds an interface, from sysfs. */
async function driverOf(vidpid: string, iface: number): Promise<string> {
  const [vid, pid] = vidpid.split(':');
  return (await sh(`for d in /sys/bus/usb/devices/*; do
    if [ "$(cat $d/idVendor 2>/dev/null):$(cat $d/idProduct 2>/dev/null)" = "${vid}:${pid}" ]; then
      basename "$(readlink $d/$(basename $d):1.${iface}/driver)" 2>/dev/null; fi; done`)).trim();
}

/** Wait until the kernel has bound a driver again (it re-probes after a release). */
async function waitForDriver(vidpid: string, iface: number, want: string): Promise<string> {
  const end = Date.now() + 20_000;
  let got = '';
  while (Date.now() < end) {
    got = await driverOf(vidpid, iface);
    if (got === want) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return got;
}

/** Bytes of a hex dump as xusb prints it ("  00000000  4c 57 ..."). */
function hexDump(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const m of text.matchAll(/^ {2}[0-9a-f]{8} {2}((?:[0-9a-f]{2} ){1,16})/gm)) {
    bytes.push(...m[1].trim().split(' ').map((h) => parseInt(h, 16)));
  }
  return new Uint8Array(bytes);
}

// LIBUSB_WASM_SKIP_QEMU=1 leaves them out (machines without Debian's apt: the guest comes from it)
describe.skipIf(!!process.env.LIBUSB_WASM_SKIP_QEMU)('the node transport on a real Linux kernel (QEMU)', { timeout: 180_000 }, () => {
  it('boots a guest to a running Node', () => {
    expect(guest.bootMs).toBeGreaterThan(0);
    process.stderr.write(`[qemu] boot: ${(guest.bootMs / 1000).toFixed(1)} s to the guest agent (guest uptime ${guest.guestUptime} s)\n`);
  });

  it('listdevs lists the devices the kernel has, at their bus, address and port path', async () => {
    const r = await program('examples/listdevs');
    expect(r.code).toBe(0);
    const ours = r.stdout.trim().split('\n').map((l) => {
      const m = /^([0-9a-f]{4}:[0-9a-f]{4}) \(bus (\d+), device (\d+)\) path: ([\d.]+)$/.exec(l);
      expect(m, l).not.toBeNull();
      return `${m![1]} ${Number(m![2])}-${m![4]} ${Number(m![3])}`;
    }).sort();
    // the kernel's view: every device but the root hubs (the usb package does not list those)
    const kernel = (await sh(`for d in /sys/bus/usb/devices/[0-9]*-*; do case $d in *:*) continue;; esac
      echo "$(cat $d/idVendor):$(cat $d/idProduct) $(basename $d) $(cat $d/devnum)"; done`)).trim().split('\n').sort();
    expect(ours).toEqual(kernel);
    for (const id of [KBD, DISK, AUDIO, '0403:6001']) expect(r.stdout).toContain(id);
  });

  it('lists devices for a user without access to them, and refuses to open them', async () => {
    const asNobody = (args: string[]) => guest.exec(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
      'node', 'dist/cli.js', 'run', ...args]);
    const [nobody, root] = [await asNobody(['build/examples/listdevs.js']), await program('examples/listdevs')];
    expect(nobody.code, nobody.stderr).toBe(0);
    expect(nobody.stdout).toBe(root.stdout);
    expect(nobody.stderr).toBe('');
    const open = await asNobody(['build/tests/realdev.js', '--', 'kernel-driver', KBD, '0']);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(`open ${KBD}: LIBUSB_ERROR_ACCESS`);
  });

  it('testlibusb shows the descriptors lsusb -v reads from the kernel', async () => {
    const [ours, theirs] = [await program('examples/testlibusb', ['-v']), await guest.run(['lsusb', '-v'])];
    expect(ours.code).toBe(0);
    const a = descriptorFields(ours.stdout, 'testlibusb');
    const b = descriptorFields(theirs.stdout, 'lsusb');
    for (const id of [KBD, DISK, AUDIO, '0403:6001']) {
      expect(a.get(id)?.length, `${id} in testlibusb`).toBeGreaterThan(10);
      expect(a.get(id), id).toEqual(b.get(id));
    }
    // strings too
    for (const s of ['QEMU USB Keyboard', 'QEMU USB HARDDRIVE']) {
      expect(ours.stdout).toContain(`Product:                   ${s}`);
      expect(theirs.stdout).toMatch(new RegExp(`iProduct\\s+\\d+ ${s}`));
    }
  });

  it("xusb's mass-storage test reads INQUIRY, capacity and block 0 of QEMU's disk", async () => {
    // what the kernel's own INQUIRY found, before xusb detaches its driver
    const vendor = (await sh('cat /sys/block/sd*/device/vendor')).replace(/\n$/, '');
    const model = (await sh('cat /sys/block/sd*/device/model')).replace(/\n$/, '');
    expect(await driverOf(DISK, 0)).toBe('usb-storage');
    const r = await program('examples/xusb', [DISK]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`VID:PID:REV "${vendor.slice(0, 8)}":"${model.slice(0, 8)}"`);
    expect(r.stdout).toContain(`Max LBA: ${(DISK_BLOCKS - 1).toString(16).toUpperCase().padStart(8, '0')}, Block Size: 00000200`);
    expect(hexDump(r.stdout.slice(r.stdout.indexOf('Attempting to read')))).toEqual(imageBlock(image, 0));
    // libusb's auto-detach gave the interface back to the kernel
    expect(await waitForDriver(DISK, 0, 'usb-storage')).toBe('usb-storage');
  });

  it('reads known blocks of the disk, in one multi-packet transfer', async () => {
    const r = await program('tests/realdev', ['read-blocks', DISK, '1000', '24']);
    expect(r.stdout).toContain('claim OK');
    expect(r.stdout).toContain(`data OK ${24 * 512}`);
    expect(r.stdout).toMatch(/csw OK 13 status 0/);
    const blocks = [...r.stdout.matchAll(/^block (\d+) ([0-9a-f]+)$/gm)];
    expect(blocks.map((b) => Number(b[1]))).toEqual(Array.from({ length: 24 }, (_, i) => 1000 + i));
    for (const b of blocks) expect(Buffer.from(b[2], 'hex')).toEqual(Buffer.from(imageBlock(image, Number(b[1]))));
    expect(r.code).toBe(0);
  });

  it('detaches and re-attaches usbhid on the keyboard', async () => {
    expect(await driverOf(KBD, 0)).toBe('usbhid');
    const r = await program('tests/realdev', ['kernel-driver', KBD, '0']);
    expect(r.stdout.trim().split('\n')).toEqual([
      'active 1',
      'claim-while-bound LIBUSB_ERROR_BUSY',
      'detach OK',
      'active 0',
      'detach-again LIBUSB_ERROR_NOT_FOUND',
      'claim OK',
      'active-while-claimed 0',
      'release OK',
      'attach OK',
      'active 1',
      'attach-again LIBUSB_ERROR_BUSY',
      'active-no-such-interface LIBUSB_ERROR_NOT_FOUND',
      'exit',
    ]);
    expect(await waitForDriver(KBD, 0, 'usbhid')).toBe('usbhid');
  });

  it("fires a program's transfer timeout on time, and gives the interface back after it", async () => {
    const r = await program('tests/realdev', ['hold-transfer', KBD, '0x81', '300']);
    const m = /result (\S+) 0 elapsed (\d+)/.exec(r.stdout);
    expect(m?.[1], r.stdout).toBe('LIBUSB_ERROR_TIMEOUT');
    expect(Number(m![2])).toBeGreaterThanOrEqual(300);
    // on time: not the binding's own limit (usb 2.x: up to 60 s late), with
    // room for a loaded machine under software emulation
    expect(Number(m![2])).toBeLessThan(2500);
    expect(r.stdout).toContain('release OK');
    expect(await waitForDriver(KBD, 0, 'usbhid')).toBe('usbhid');
  });

  it('resets a device that comes back as itself: LIBUSB_SUCCESS, and it answers after', async () => {
    const r = await program('tests/realdev', ['reset', DISK]);
    expect(r.stdout.trim().split('\n'), r.stderr).toEqual(['claim OK', 'reset OK', 'descriptor OK', 'release OK', 'exit']);
    expect(await waitForDriver(DISK, 0, 'usb-storage')).toBe('usb-storage');
  });

  it('a sandboxed program cannot reach a protected class by changing the configuration with raw requests', async () => {
    // a real device of the guest's kernel: configuration 1 a vendor interface 0 (SourceSink),
    // configuration 2 a mass-storage interface 0 (a protected class)
    const gadget = <T = unknown>(fn: string, ...args: unknown[]) => guest.call<T>(fn, args, path.join(PROJECT_TEST_QEMU, 'guest/gadget.mjs'));
    await sh('dd if=/dev/zero of=/tmp/lw-reconfigure.img bs=1024 count=256 2>/dev/null');
    await gadget('loadModules', { controllers: 1 });
    await sh('modprobe usb_f_mass_storage');
    await gadget('create', 'reconfigure', {
      vendorId: 0x1209, productId: 0x00c2, manufacturer: 'libusb-wasm', product: 'Two configurations', serialNumber: 'RC0001',
      configurations: [
        { label: 'vendor', functions: [{ type: 'SourceSink', attributes: { bulk_buflen: 512, isoc_maxpacket: 0 } }] },
        { label: 'storage', functions: [{ type: 'mass_storage', attributes: { 'lun.0/file': '/tmp/lw-reconfigure.img' } }] },
      ],
    });
    const bound = await gadget<{ sysfs: string }>('bind', 'reconfigure');
    // Linux picks the mass-storage configuration itself (it prefers a class it has a driver for): start in the vendor one
    await sh(`echo 1 > /sys/bus/usb/devices/${bound.sysfs}/bConfigurationValue`);
    try {
      const r = await guest.libusb('build/tests/hostile.js', ['reconfigure', '1209:00c2'], { cliArgs: ['--sandbox'] });
      const lines = r.stdout.trim().split('\n');
      const order = [
        'open OK',
        'claim 0 OK',
        'raw SET_CONFIGURATION 2 while claimed LIBUSB_ERROR_BUSY',
        'set_configuration 2 while claimed LIBUSB_ERROR_BUSY',
        'configuration 1',
        'release 0 OK',
        'raw SET_INTERFACE 0/0 unclaimed LIBUSB_ERROR_NOT_FOUND',
        'raw SET_CONFIGURATION 2 OK',
        'configuration 2',
        'claim 0 LIBUSB_ERROR_ACCESS', // mass storage now: the policy blocks it
        'transfer 0x81 LIBUSB_ERROR_NOT_FOUND',
      ];
      expect(lines.filter((l) => order.includes(l)).slice(0, order.length), r.stdout + r.stderr).toEqual(order);
      // and back: the kernel's usb-storage holds the interface now, so Linux refuses it (usbfs: EBUSY)
      expect(lines.at(-2)).toBe('raw SET_CONFIGURATION 1 LIBUSB_ERROR_BUSY');
    } finally {
      await gadget('unbind', 'reconfigure').catch(() => {});
      await gadget('remove', 'reconfigure').catch(() => {});
    }
  });

  it('answers LIBUSB_ERROR_NOT_SUPPORTED for isochronous transfers (usb@3 has none)', async () => {
    const r = await program('tests/realdev', ['iso', AUDIO, '1', '1', '0x01']);
    expect(r.stdout).toContain('claim OK');
    expect(r.stdout).toContain('altsetting OK');
    expect(r.stdout).toContain('submit LIBUSB_ERROR_NOT_SUPPORTED');
  });

  it('runs several programs in workers of one process at once, its main thread free', async () => {
    const r = await guest.call<{ results: RunResult[]; ticks: number; ms: number }>('concurrent', [[
      ['examples/listdevs', []],
      ['tests/realdev', ['read-blocks', DISK, '7', '2']],
      ['examples/testlibusb', []],
    ]]);
    expect(r.results.map((x) => x.code)).toEqual([0, 0, 0]);
    expect(r.results[0].stdout).toContain(DISK);
    expect(r.results[1].stdout).toContain('data OK 1024');
    expect(r.results[2].stdout).toContain('QEMU USB Keyboard');
    // a 10 ms interval kept firing on the main thread the whole time
    expect(r.ticks).toBeGreaterThan(10);
  });

  it('ends a pending transfer with LIBUSB_ERROR_NO_DEVICE when device_del removes the device', async () => {
    const r = await guest.call<RunResult & { msAfterDel: number }>('removeDuringTransfer', [KBD, '0x81', 'kbd']);
    expect(r.code, r.stdout + r.stderr).toBe(0); // it ended by itself
    expect(r.stdout).toMatch(/result LIBUSB_ERROR_NO_DEVICE/);
    expect(r.stdout).toContain('exit');
  });

  it('reports a device added with device_add (and removed again) to hotplugtest', async () => {
    const r = await guest.call<RunResult>('hotplug', ['0x0627', '0x0001', { driver: 'usb-kbd', bus: 'xhci.0', id: 'kbd2' }]);
    expect(r.stdout).toContain('Device attached: 0627:0001');
    expect(r.stdout).toContain('Device detached: 0627:0001');
    expect(r.code).toBe(0);
  });

  it("a program's capture is the kernel's own usbmon trace of the same run", async () => {
    const r = await guest.call<RunResult>('captureWithUsbmon', ['examples/xusb', [DISK], guest.runDir]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const [bus, address] = (await sh(`for d in /sys/bus/usb/devices/*; do
      [ "$(cat $d/idVendor 2>/dev/null):$(cat $d/idProduct 2>/dev/null)" = "${DISK}" ] && echo "$(cat $d/busnum) $(cat $d/devnum)"; done; true`))
      .trim().split(' ').map(Number);
    const ours = captureEvents(new Uint8Array(fs.readFileSync(path.join(guest.runDir, 'capture.pcapng'))), bus, address);
    const kernel = usbmonTextEvents(fs.readFileSync(path.join(guest.runDir, 'usbmon.txt'), 'utf8'), bus, address);
    const both = `ours:\n${ours.map(describeUrb).join('\n')}\nthe kernel's:\n${kernel.map(describeUrb).join('\n')}`;
    // xusb's string descriptors, GET MAX LUN, then INQUIRY, READ CAPACITY and READ(10): CBW, data, CSW each
    expect(ours.length, both).toBeGreaterThanOrEqual(38);
    expect(ours.filter((e) => e.type === 'B' && e.event === 'C').length, both).toBe(9);
    // The kernel's trace holds the same run, event for event (an IN submission may ask the kernel for
    // more: the usb package asks for whole packets). Around it is what the program did not do: before,
    // control requests from below the host (a string descriptor read with a 4 KiB buffer); after,
    // usb-storage probing the disk again once the program gives the interface back.
    const start = kernel.findIndex((_, i) => ours.every((e, j) => kernel[i + j] && sameUrb(e, kernel[i + j])));
    expect(start, both).toBeGreaterThanOrEqual(0);
    expect(kernel.slice(0, start).every((e) => e.type === 'C'), both).toBe(true);

    // and the capture, replayed here without the guest or its disk, gives xusb the same answers
    const replayed = await run(path.join(EXAMPLES, 'xusb.js'), { args: [DISK], devices: [`replay:file=${path.join(guest.runDir, 'capture.pcapng')}`] });
    expect(replayed.stderr).toBe('');
    expect(replayed.stdout).toBe(r.stdout);
    expect(replayed.code).toBe(0);
  });
});

