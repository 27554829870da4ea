/**
 * Captures of real programs (libusb's xusb, test/c/transfer_semantics.c)
 * against the simulated devices, read back by Wireshark's own dissector
 * (tshark): descriptors, mass-storage CBW/CSW, bulk payloads, stalls and
 * isochronous packet statuses are what the programs did.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLES, ROOT, TESTS, run, start } from './helpers.js';
import { tsharkFields, tsharkProblems } from './tshark.js';
import { readUsbCapture } from '../ts/usb/capture/exchanges.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-capture-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('captures read by Wireshark (tshark)', () => {
  it('xusb on the mass-storage model: the device descriptor, and a CBW/CSW pair per SCSI command', async () => {
    const file = path.join(dir, 'xusb-msc.pcapng');
    const r = await run(path.join(EXAMPLES, 'xusb.js'), { devices: ['msc'], args: ['1209:0002'], capture: file });
    expect(r.code).toBe(0);
    expect(tsharkProblems(file)).toEqual([]);

    const ids = tsharkFields(file, 'usb.idVendor', ['usb.idVendor', 'usb.idProduct', 'usb.urb_type']);
    expect(ids.length).toBeGreaterThan(0);
    for (const [vendor, product, type] of ids) expect([vendor, product, type]).toEqual(['0x1209', '0x0002', "'C'"]);

    // xusb's mass-storage test: INQUIRY, READ CAPACITY, READ(10), each a CBW out and a CSW back with the same tag
    const cbws = tsharkFields(file, 'usbms.dCBWSignature', ['usbms.dCBWSignature', 'usbms.dCBWTag', 'usbms.dCBWDataTransferLength',
      'usbms.dCBWLUN', 'scsi_sbc.opcode', 'usb.endpoint_address']);
    const csws = tsharkFields(file, 'usbms.dCSWSignature', ['usbms.dCSWSignature', 'usbms.dCBWTag', 'usbms.dCSWStatus', 'usb.endpoint_address']);
    expect(cbws.map((c) => c[4])).toEqual(['0x12', '0x25', '0x28']);
    expect(cbws.map((c) => c[2])).toEqual(['36', '8', '512']);
    expect(csws).toHaveLength(3);
    cbws.forEach((cbw, i) => {
      expect(cbw[0]).toBe('0x43425355');
      expect(cbw[3]).toBe('0x00');
      expect(cbw[5]).toBe('0x02');
      expect(csws[i][0]).toBe('0x53425355');
      expect(csws[i][1]).toBe(cbw[1]); // the CSW answers the CBW with its tag
      expect(csws[i][2]).toBe('0x00');
      expect(csws[i][3]).toBe('0x81');
    });
    // the program's own calls are annotated
    const notes = tsharkFields(file, 'frame.comment', ['frame.comment']).map(([c]) => c);
    expect(notes).toEqual(expect.arrayContaining(['libusb_open', 'libusb_claim_interface 0', 'libusb_release_interface 0', 'libusb_close']));
  });

  it('transfer_semantics: bulk payload bytes, a stall, isochronous packet statuses', async () => {
    const file = path.join(dir, 'semantics.pcapng');
    const r = await run(path.join(TESTS, 'transfer_semantics.js'), { devices: ['loopback'], args: ['zlp', 'stall', 'iso'], capture: file });
    expect(r.stdout).toBe('PASS zlp\nPASS stall\nPASS iso\n');
    expect(tsharkProblems(file)).toEqual([]);

    // zlp: 512 bytes of 0xab out on 0x01 with URB_ZERO_PACKET, echoed back on 0x81
    const out = tsharkFields(file, 'usb.urb_type == \'S\' && usb.endpoint_address == 0x01 && usb.urb_len == 512',
      ['usb.capdata', 'usb.transfer_flags.zero_packet']);
    expect(out).toEqual([['ab'.repeat(512), '1']]);
    const echo = tsharkFields(file, 'usb.urb_type == \'C\' && usb.endpoint_address == 0x81 && usb.urb_len == 512', ['usb.capdata']);
    expect(echo.map(([d]) => d)).toContain('ab'.repeat(512));

    // stall: the IN on the halted endpoint completes with -EPIPE; so does the unsupported control request
    const stalls = tsharkFields(file, 'usb.urb_status == -32', ['usb.endpoint_address', 'usb.transfer_type']);
    expect(stalls).toEqual([['0x81', '0x03'], ['0x80', '0x02']]);
    // libusb_clear_halt: the CLEAR_FEATURE(ENDPOINT_HALT) the kernel sends
    const clears = tsharkFields(file, 'usb.setup.bRequest == 1 && usb.urb_type == \'S\'', ['usb.bmRequestType', 'usb.setup.wEndpoint', 'frame.comment']);
    expect(clears).toEqual([['0x02', '129', 'libusb_clear_halt 0x81']]);

    // iso: packets 1 and 3 failed (-EPROTO), packet 2 came back half length
    const iso = tsharkFields(file, 'usb.transfer_type == 0 && usb.urb_type == \'C\' && usb.endpoint_address == 0x83',
      ['usb.iso.error_count', 'usb.iso.iso_status', 'usb.iso.iso_len']);
    expect(iso[0]).toEqual(['2', '0,-71,0,-71,0,0,0,0', '256,0,128,0,256,256,256,256']);
    const isoOut = tsharkFields(file, 'usb.transfer_type == 0 && usb.urb_type == \'S\' && usb.endpoint_address == 0x03', ['usb.iso.numdesc', 'usb.iso.iso_len']);
    // numdesc twice: the URB's packet count (offset 44) and ndesc, the descriptors present (offset 60)
    expect(isoOut).toEqual([['8,8', '256,256,256,256,256,256,256,256']]);
  });

  it('in memory: the program\'s capture comes back as a Blob', async () => {
    const r = await run(path.join(TESTS, 'transfer_semantics.js'), { devices: ['loopback'], args: ['short'], capture: true });
    expect(r.code).toBe(0);
    const blob = r.capture!;
    expect(blob.type).toBe('application/x-pcapng');
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const file = path.join(dir, 'memory.pcapng');
    fs.writeFileSync(file, bytes);
    expect(tsharkProblems(file)).toEqual([]);
    const shorts = tsharkFields(file, 'usb.urb_type == \'C\' && usb.endpoint_address == 0x81', ['usb.urb_len', 'usb.urb_status']);
    expect(shorts).toEqual([['100', '0'], ['100', '0']]);
    expect(readUsbCapture(bytes).exchanges.length).toBeGreaterThan(4);
  });

  it('a size limit stops the capture with one clear message, and the file stays readable', async () => {
    const file = path.join(dir, 'limited.pcapng');
    const r = await run(path.join(TESTS, 'transfer_semantics.js'), {
      devices: ['loopback'], args: ['inflight64'], capture: { file, maxBytes: 16 * 1024 },
    });
    expect(r.stdout).toBe('PASS inflight64\n'); // the program is not affected
    const said = r.stderr.split('\n').filter((l) => l.includes('size limit'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`capture ${file}: reached its size limit of 16384 bytes`);
    expect(fs.statSync(file).size).toBeLessThanOrEqual(16 * 1024);
    expect(tsharkProblems(file)).toEqual([]);
    const last = tsharkFields(file, 'frame.comment', ['frame.comment']).at(-1);
    expect(last?.[0]).toContain('reached its size limit');
  });

  it('a shared host: each program is an interface of its own, with only the devices it may see', async () => {
    const { createHost } = (await import('../dist/node.js' as string)) as typeof import('../ts/runner/node/index.js');
    const file = path.join(dir, 'shared.pcapng');
    const host = createHost({ devices: ['loopback', 'msc'], capture: file, log: () => {} });
    try {
      // a is sandboxed to the loopback device: the disk never appears in its capture
      const a = start(path.join(TESTS, 'transfer_semantics.js'), { host, args: ['zlp'], policy: { grants: [{ vendorId: 0x1209, productId: 0x0001 }] } });
      const b = start(path.join(EXAMPLES, 'xusb.js'), { host, args: ['1209:0002'] });
      expect((await a.outcome()).code).toBe(0);
      expect((await b.outcome()).code).toBe(0);
      const names = tsharkFields(file, 'frame.comment == "libusb_open"', ['frame.interface_name', 'usb.device_address']);
      expect(names.sort()).toEqual([[a.id, '1'], [b.id, '2']]);
      // each program's capture has only its own transfers: the loopback's payload in one, the CBWs in the other
      expect(tsharkFields(file, 'usbms.dCBWSignature', ['frame.interface_name']).map(([n]) => n)).toEqual([b.id, b.id, b.id]);
      expect(tsharkFields(file, "usb.transfer_flags.zero_packet == 1 && usb.urb_type == 'S'", ['frame.interface_name']).map(([n]) => n)).toEqual([a.id]);
      expect(tsharkFields(file, `frame.interface_name == "${a.id}"`, ['usb.device_address']).map(([d]) => d)).not.toContain('2');
      // b sees both devices; the one it opened is enumerated in its capture (the other too if it arrived while b ran)
      expect(tsharkFields(file, `frame.interface_name == "${b.id}" && usb.idProduct`, ['usb.idProduct']).map(([p]) => p)).toContain('0x0002');
    } finally {
      await host.close();
    }
  });

  it('the CLI: run --capture writes the file; a capture that cannot be written fails before the program runs', async () => {
    const file = path.join(dir, 'cli.pcapng');
    const cli = path.join(ROOT, 'dist/cli.js');
    await promisify(execFile)(process.execPath, [cli, 'run', '--devices', 'loopback', '--capture', file, '--capture-snaplen', '16',
      path.join(TESTS, 'transfer_semantics.js'), 'zlp'], { timeout: 60_000 });
    const lengths = tsharkFields(file, 'usb.urb_type == \'S\' && usb.endpoint_address == 0x01 && usb.urb_len == 512', ['usb.data_len']);
    expect(lengths).toEqual([['16']]);
    const bad = await promisify(execFile)(process.execPath, [cli, 'run', '--devices', 'loopback', '--capture', path.join(dir, 'no/such/dir/x.pcapng'),
      path.join(TESTS, 'transfer_semantics.js'), 'zlp'], { timeout: 60_000 }).then(() => undefined, (e) => e);
    expect(bad?.code).toBeGreaterThan(0);
    expect(bad?.stderr).toMatch(/capture: cannot write .*x\.pcapng: its directory .* does not exist or is not writable/);
    expect(bad?.stdout).toBe('');
  });
});
