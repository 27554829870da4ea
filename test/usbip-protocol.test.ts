/**
 * The USB/IP codec (ts/transports/usbip/protocol.ts) and its strict
 * incremental parser (parser.ts): the layouts of Linux's
 * Documentation/usb/usbip_protocol.rst (including its captured example),
 * round trips, any split of the bytes, and a clear error for each kind of
 * broken message.
 */
import { describe, expect, it } from 'vitest';
import { UsbipParser, type SubmittedUrbs } from '../ts/transports/usbip/parser.js';
import {
  Command, DEVICE_INFO_SIZE, OpStatus, UsbipProtocolError, encodeCmdSubmit, encodeCmdUnlink, encodeRepDevlist, encodeRepImport,
  encodeReqDevlist, encodeReqImport, encodeRetSubmit, encodeRetUnlink, type UsbipDeviceInfo, type UsbipMessage,
} from '../ts/transports/usbip/protocol.js';
import { Errno, transferStatusOf, urbStatusOf } from '../ts/usb/urb-status.js';
import { concatBytes } from './usbip-helpers.js';
import { TransferStatus } from '../ts/usb/constants.js';

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((b) => parseInt(b, 16)));

const device = (busid: string, interfaces: number[] = [0xff]): UsbipDeviceInfo => ({
  path: `/sys/devices/pci0000:00/0000:00:1d.1/usb3/${busid}`, busid, busnum: 3, devnum: 7, speed: 3,
  vendorId: 0x1209, productId: 0x0001, bcdDevice: 0x0100, deviceClass: 0, deviceSubclass: 0, deviceProtocol: 0,
  configurationValue: 1, numConfigurations: 1, numInterfaces: interfaces.length,
  interfaces: interfaces.map((c) => ({ interfaceClass: c, interfaceSubclass: 1, interfaceProtocol: 2 })),
});

/** A client's record of what it sent: seqnum -> (in, length, iso packets). */
function sent(urbs: Record<number, { in: boolean; length: number; isoPackets?: number; into?: Uint8Array }>, unlinks: number[] = []): SubmittedUrbs {
  return {
    submitted: (s) => (urbs[s] ? { isoPackets: 0, ...urbs[s] } : undefined),
    unlinking: (s) => unlinks.includes(s),
  };
}

/** Feed bytes in chunks of `size`; all messages. */
function feed(parser: UsbipParser, bytes: Uint8Array, size = bytes.length): UsbipMessage[] {
  const out: UsbipMessage[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(...parser.push(bytes.subarray(i, i + size)));
  return out;
}


describe('the layouts of usbip_protocol.rst', () => {
  it("parses the document's captured CMD_SUBMIT and RET_SUBMIT (interrupt IN) and encodes them back byte for byte", () => {
    const cmd = hex('00000001 00000d05 0001000f 00000001 00000001 00000200 00000040 ffffffff 00000000 00000004 00000000 00000000');
    const [m] = feed(UsbipParser.forServer(), concatBytes(encodeReqImport('1-1'), cmd)).slice(1);
    expect(m).toMatchObject({
      type: 'cmd-submit', seqnum: 0xd05, devid: 0x1000f, direction: 1, endpoint: 1, transferFlags: 0x200,
      transferBufferLength: 64, startFrame: -1, numberOfPackets: 0, interval: 4,
    });
    expect(encodeCmdSubmit(m as Extract<UsbipMessage, { type: 'cmd-submit' }>)).toEqual(cmd);

    const data = hex('ffffffff860011a784ce5ae2123763612891b1020100000400000000000000000000000000000000000000000000000000000000000000000000000000000000');
    const ret = concatBytes(hex('00000003 00000d05 00000000 00000000 00000000 00000000 00000040 ffffffff 00000000 00000000 00000000 00000000'), data);
    const client = UsbipParser.forClient('import', sent({ 0xd05: { in: true, length: 64 } }));
    const [, r] = feed(client, concatBytes(encodeRepImport(OpStatus.OK, device('1-1')), ret));
    expect(r).toMatchObject({ type: 'ret-submit', seqnum: 0xd05, status: 0, actualLength: 64, startFrame: -1, numberOfPackets: 0 });
    expect((r as { data: Uint8Array }).data).toEqual(data);
  });

  it('OP_REP_DEVLIST: fields at the documented offsets, each device followed by its interfaces', () => {
    const bytes = encodeRepDevlist([device('3-2', [8, 3]), device('3-4')]);
    const v = new DataView(bytes.buffer);
    expect(v.getUint16(0)).toBe(0x0111);
    expect(v.getUint16(2)).toBe(0x0005);
    expect(v.getUint32(8)).toBe(2);
    expect(new TextDecoder().decode(bytes.subarray(0x10c, 0x10f))).toBe('3-2');
    expect(bytes[0x10f]).toBe(0);
    expect(v.getUint32(0x12c)).toBe(3);
    expect(v.getUint32(0x130)).toBe(7);
    expect(v.getUint16(0x138)).toBe(0x1209);
    expect(bytes[0x143]).toBe(2);
    expect([...bytes.subarray(0x144, 0x14c)]).toEqual([8, 1, 2, 0, 3, 1, 2, 0]);
    // the second device starts at 0xC + 1*0x138 + 2*4
    expect(new TextDecoder().decode(bytes.subarray(0xc + 0x138 + 8 + 0x100, 0xc + 0x138 + 8 + 0x103))).toBe('3-4');
    expect(bytes.length).toBe(12 + 2 * DEVICE_INFO_SIZE + 3 * 4);
    const [m] = feed(UsbipParser.forClient('devlist'), bytes, 1);
    expect(m).toEqual({ type: 'rep-devlist', status: 0, devices: [device('3-2', [8, 3]), device('3-4')] });
  });

  it('OP_REQ_IMPORT / OP_REP_IMPORT: busid at 8; a refusal is the 8-byte header alone', () => {
    const req = encodeReqImport('1-1.4');
    expect(req.length).toBe(40);
    expect(new DataView(req.buffer).getUint16(2)).toBe(0x8003);
    expect(feed(UsbipParser.forServer(), req, 3)).toEqual([{ type: 'req-import', busid: '1-1.4' }]);
    const ok = encodeRepImport(OpStatus.OK, device('1-1.4'));
    expect(ok.length).toBe(8 + DEVICE_INFO_SIZE);
    expect(new DataView(ok.buffer).getUint32(0x128)).toBe(3);
    expect(feed(UsbipParser.forClient('import'), ok, 7)).toEqual([{ type: 'rep-import', status: 0, device: { ...device('1-1.4'), numInterfaces: 1, interfaces: [] } }]);
    const refused = encodeRepImport(OpStatus.DEV_BUSY);
    expect(refused).toEqual(hex('0111 0003 00000002'));
    expect(feed(UsbipParser.forClient('import'), refused)).toEqual([{ type: 'rep-import', status: OpStatus.DEV_BUSY }]);
  });

  it('OP_REQ_DEVLIST is 8 bytes and the conversation ends with it', () => {
    expect(encodeReqDevlist()).toEqual(hex('0111 8005 00000000'));
    expect(feed(UsbipParser.forServer(), encodeReqDevlist())).toEqual([{ type: 'req-devlist' }]);
  });
});

describe('URB messages', () => {
  const server = () => {
    const p = UsbipParser.forServer();
    p.push(encodeReqImport('1-1'));
    return p;
  };
  const client = (urbs: SubmittedUrbs) => {
    const p = UsbipParser.forClient('import', urbs);
    p.push(encodeRepImport(OpStatus.OK, device('1-1')));
    return p;
  };

  it('CMD_SUBMIT OUT carries its data, isochronous descriptors after it; any split gives the same message', () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const iso = [{ offset: 0, length: 100, actualLength: 0, status: 0 }, { offset: 100, length: 200, actualLength: 0, status: 0 }];
    const bytes = encodeCmdSubmit({
      seqnum: 9, devid: 0x10002, direction: 0, endpoint: 3, transferFlags: 0x2, transferBufferLength: 300, startFrame: 0,
      numberOfPackets: 2, interval: 1, setup: new Uint8Array(8), data, isoPackets: iso,
    });
    expect(bytes.length).toBe(48 + 300 + 32);
    const whole = feed(server(), bytes);
    for (const size of [1, 2, 47, 48, 49, 347, 348]) expect(feed(server(), bytes, size)).toEqual(whole);
    expect(whole[0]).toMatchObject({ type: 'cmd-submit', seqnum: 9, endpoint: 3, numberOfPackets: 2, isoPackets: iso });
    expect((whole[0] as { data: Uint8Array }).data).toEqual(data);
  });

  it('RET_SUBMIT of an isochronous IN transfer: packet data back to back, descriptors keep their offsets', () => {
    const iso = [{ offset: 0, length: 8, actualLength: 3, status: 0 }, { offset: 8, length: 8, actualLength: 0, status: -Errno.EPROTO },
      { offset: 16, length: 8, actualLength: 8, status: 0 }];
    const data = Uint8Array.from({ length: 11 }, (_, i) => i + 1);
    const bytes = encodeRetSubmit({ seqnum: 4, status: 0, actualLength: 11, startFrame: 0, numberOfPackets: 3, errorCount: 1, data, isoPackets: iso });
    expect(bytes.length).toBe(48 + 11 + 48);
    const [m] = feed(client(sent({ 4: { in: true, length: 24, isoPackets: 3 } })), bytes, 5);
    expect(m).toMatchObject({ type: 'ret-submit', actualLength: 11, errorCount: 1, isoPackets: iso });
    expect((m as { data: Uint8Array }).data).toEqual(data);
  });

  it('IN data is written into the buffer the client offers, and no longer once it is released', () => {
    const into = new Uint8Array(64);
    const data = Uint8Array.from({ length: 64 }, (_, i) => 200 - i);
    const bytes = encodeRetSubmit({ seqnum: 1, status: 0, actualLength: 64, startFrame: 0, numberOfPackets: 0, errorCount: 0, data });
    const [m] = feed(client(sent({ 1: { in: true, length: 64, into } })), bytes, 16);
    expect((m as { data: Uint8Array }).data.buffer).toBe(into.buffer);
    expect(into).toEqual(data);

    const into2 = new Uint8Array(64);
    const p = client(sent({ 1: { in: true, length: 64, into: into2 } }));
    expect(p.push(bytes.subarray(0, 48 + 20))).toEqual([]);
    p.releaseTarget(1);
    const [m2] = p.push(bytes.subarray(48 + 20));
    expect([...into2.subarray(20)].every((b) => b === 0)).toBe(true);
    expect((m2 as { data: Uint8Array }).data).toEqual(data);
    expect((m2 as { data: Uint8Array }).data.buffer).not.toBe(into2.buffer);
  });

  it('CMD_UNLINK and RET_UNLINK', () => {
    const unlink = encodeCmdUnlink({ seqnum: 12, devid: 0x10002, unlinkSeqnum: 11 });
    expect(unlink.length).toBe(48);
    expect(new DataView(unlink.buffer).getUint32(0)).toBe(Command.CMD_UNLINK);
    expect(feed(server(), unlink)).toEqual([{ type: 'cmd-unlink', seqnum: 12, devid: 0x10002, unlinkSeqnum: 11 }]);
    const ret = encodeRetUnlink({ seqnum: 12, status: -Errno.ECONNRESET });
    expect(feed(client(sent({}, [12])), ret)).toEqual([{ type: 'ret-unlink', seqnum: 12, status: -104 }]);
  });

  it('a message cut short yields nothing until the rest arrives', () => {
    const p = server();
    const bytes = encodeCmdSubmit({ seqnum: 1, devid: 1, direction: 0, endpoint: 1, transferFlags: 0, transferBufferLength: 10,
      startFrame: 0, numberOfPackets: 0, interval: 0, setup: new Uint8Array(8), data: new Uint8Array(10) });
    expect(p.push(bytes.subarray(0, 50))).toEqual([]);
    expect(p.buffered).toBe(2);
    expect(p.push(bytes.subarray(50))).toHaveLength(1);
  });
});

describe('broken messages: one clear error, and nothing after it', () => {
  const urbHeader = (command: number, fill: (v: DataView) => void = () => {}) => {
    const b = new Uint8Array(48);
    const v = new DataView(b.buffer);
    v.setUint32(0, command);
    fill(v);
    return b;
  };
  const afterImport = (p: UsbipParser, serverSide: boolean) => {
    p.push(serverSide ? encodeReqImport('1-1') : encodeRepImport(OpStatus.OK, device('1-1')));
    return p;
  };
  const cases: [string, () => UsbipParser, Uint8Array, RegExp][] = [
    ['another protocol version', () => UsbipParser.forServer(), hex('0106 8005 00000000'), /version 0x0106/],
    ['an unknown operation', () => UsbipParser.forServer(), hex('0111 8006 00000000'), /unknown operation 0x8006/],
    ['a reply sent to the server', () => UsbipParser.forServer(), hex('0111 0005 00000000'), /unknown operation 0x0005/],
    ['a request with a status', () => UsbipParser.forServer(), hex('0111 8005 00000001'), /status 1/],
    ['the wrong reply', () => UsbipParser.forClient('devlist'), encodeRepImport(OpStatus.NA), /reply 0x0003 to OP_REQ_DEVLIST/],
    ['a busid without its NUL', () => UsbipParser.forServer(), concatBytes(hex('0111 8003 00000000'), new Uint8Array(32).fill(0x31)), /busid is not NUL-terminated/],
    ['a busid with control bytes', () => UsbipParser.forServer(), concatBytes(hex('0111 8003 00000000'), hex('31 2d 01'), new Uint8Array(29)), /not printable/],
    ['a device list of a million devices', () => UsbipParser.forClient('devlist'), hex('0111 0005 00000000 000f4240'), /1000000 devices/],
    ['a device with 200 interfaces', () => UsbipParser.forClient('devlist'), (() => {
      const b = encodeRepDevlist([device('1-1')]);
      b[12 + 0x137] = 200;
      return b;
    })(), /200 interfaces/],
    ['bytes after the device list request', () => UsbipParser.forServer(), concatBytes(encodeReqDevlist(), hex('00')), /unexpected bytes after the request/],
    ['an unknown URB command', () => afterImport(UsbipParser.forServer(), true), urbHeader(5), /unknown command 0x5/],
    ['a RET_SUBMIT sent to the server', () => afterImport(UsbipParser.forServer(), true), urbHeader(Command.RET_SUBMIT), /unknown command 0x3 from the client/],
    ['a transfer larger than allowed', () => afterImport(UsbipParser.forServer(), true), urbHeader(1, (v) => v.setInt32(24, 64 << 20)), /transfer_buffer_length 67108864/],
    ['a negative transfer length', () => afterImport(UsbipParser.forServer(), true), urbHeader(1, (v) => v.setInt32(24, -5)), /transfer_buffer_length -5/],
    ['a direction that is neither', () => afterImport(UsbipParser.forServer(), true), urbHeader(1, (v) => v.setUint32(12, 2)), /direction 2/],
    ['endpoint 16', () => afterImport(UsbipParser.forServer(), true), urbHeader(1, (v) => v.setUint32(16, 16)), /endpoint 16/],
    ['5000 isochronous packets', () => afterImport(UsbipParser.forServer(), true), urbHeader(1, (v) => v.setUint32(32, 5000)), /5000 isochronous packets/],
    ['a packet outside the buffer', () => afterImport(UsbipParser.forServer(), true), concatBytes(urbHeader(1, (v) => {
      v.setUint32(12, 1);
      v.setInt32(24, 8);
      v.setUint32(32, 1);
    }), hex('00000004 00000008 00000000 00000000')), /outside the 8-byte buffer/],
    ['a RET_SUBMIT nobody asked for', () => afterImport(UsbipParser.forClient('import', sent({})), false), urbHeader(3, (v) => v.setUint32(4, 77)), /seqnum 77, which is not pending/],
    ['more data than asked for', () => afterImport(UsbipParser.forClient('import', sent({ 1: { in: true, length: 4 } })), false),
      urbHeader(3, (v) => { v.setUint32(4, 1); v.setInt32(24, 5); }), /actual_length 5 of a 4-byte transfer/],
    ['a positive status', () => afterImport(UsbipParser.forClient('import', sent({ 1: { in: true, length: 4 } })), false),
      urbHeader(3, (v) => { v.setUint32(4, 1); v.setInt32(20, 3); }), /status 3 is not 0 or a negative errno/],
    ['iso packets that do not add up', () => afterImport(UsbipParser.forClient('import', sent({ 1: { in: true, length: 16, isoPackets: 1 } })), false),
      concatBytes(urbHeader(3, (v) => { v.setUint32(4, 1); v.setInt32(24, 2); v.setUint32(32, 1); }), hex('0102'), hex('00000000 00000010 00000003 00000000')),
      /iso packets total 3 bytes, actual_length 2/],
    ['the wrong number of iso packets', () => afterImport(UsbipParser.forClient('import', sent({ 1: { in: true, length: 16, isoPackets: 2 } })), false),
      urbHeader(3, (v) => { v.setUint32(4, 1); v.setUint32(32, 1); }), /1 isochronous packets for a transfer of 2/],
    ['a RET_UNLINK for no unlink', () => afterImport(UsbipParser.forClient('import', sent({})), false), urbHeader(4, (v) => v.setUint32(4, 3)), /no pending unlink/],
    ['a CMD_SUBMIT sent to the client', () => afterImport(UsbipParser.forClient('import', sent({})), false), urbHeader(1), /unknown command 0x1 from the server/],
  ];
  for (const [what, make, bytes, message] of cases) {
    it(what, () => {
      const p = make();
      let error: unknown;
      try {
        feed(p, bytes, 7);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsbipProtocolError);
      expect((error as Error).message).toMatch(message);
      // the parser refuses everything after it, with the same error
      expect(() => p.push(encodeReqDevlist())).toThrow(error as Error);
    });
  }
});

describe('statuses', () => {
  it('map URB statuses to libusb statuses the way libusb reads usbfs, and back', () => {
    expect(transferStatusOf(0)).toBe(TransferStatus.COMPLETED);
    expect(transferStatusOf(-Errno.EREMOTEIO)).toBe(TransferStatus.COMPLETED);
    expect(transferStatusOf(-Errno.ECONNRESET)).toBe(TransferStatus.CANCELLED);
    expect(transferStatusOf(-Errno.ENOENT)).toBe(TransferStatus.CANCELLED);
    expect(transferStatusOf(-Errno.EPIPE)).toBe(TransferStatus.STALL);
    expect(transferStatusOf(-Errno.ESHUTDOWN)).toBe(TransferStatus.NO_DEVICE);
    expect(transferStatusOf(-Errno.ENODEV)).toBe(TransferStatus.NO_DEVICE);
    expect(transferStatusOf(-Errno.EOVERFLOW)).toBe(TransferStatus.OVERFLOW);
    expect(transferStatusOf(-Errno.ETIMEDOUT)).toBe(TransferStatus.TIMED_OUT);
    expect(transferStatusOf(-Errno.EPROTO)).toBe(TransferStatus.ERROR);
    expect(transferStatusOf(-Errno.EXDEV)).toBe(TransferStatus.ERROR);
    expect(transferStatusOf(-Errno.EXDEV, true)).toBe(TransferStatus.COMPLETED);
    // libusb times out by cancelling: a timeout is an unlink on the wire
    for (const s of Object.values(TransferStatus)) expect(transferStatusOf(urbStatusOf(s))).toBe(s === TransferStatus.TIMED_OUT ? TransferStatus.CANCELLED : s);
  });
});
