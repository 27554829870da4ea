/**
 * The usbip baseline target (bench/usbip.mjs), Node only: it speaks TCP.
 * @module
 */
import { ImportedConnection, type UrbSubmission } from '../../ts/transports/usbip/client-connection.js';
import { parseServerAddress } from '../../ts/transports/usbip/stream.js';
import { connectTcp } from '../../ts/transports/usbip/tcp.js';
import { transferStatusOf } from '../../ts/usb/urb-status.js';
import { encodeSetupPacket } from '../../ts/usb/setup-packet.js';
import type { TransferCompletion } from '../../ts/transports/transport.js';
import type { Target } from './loops.js';

/**
 * The same device exported by `usbip-serve` (bench/usbip.mjs): the USB/IP
 * exchanges themselves on one TCP connection (our codec, no wasm, no
 * libusb, no transport host), IN data written straight into the slot's
 * buffer as the usbip transport does.
 */
export async function usbipTarget(server: string): Promise<Target> {
  const connection = await ImportedConnection.open(connectTcp, parseServerAddress(server), '1-1');
  const run = async (s: UrbSubmission): Promise<TransferCompletion> => {
    const o = await connection.submit(s).outcome;
    return { status: transferStatusOf(o.status), data: o.data, bytesWritten: o.actualLength };
  };
  const IN = 0x200;
  return {
    controlIn: (setup, into) => run({ in: true, endpoint: 0, transferFlags: IN, length: setup.wLength, interval: 0, setup: encodeSetupPacket(setup), into }),
    controlOut: (setup) => run({ in: false, endpoint: 0, transferFlags: 0, length: 0, interval: 0, setup: encodeSetupPacket(setup) }),
    bulkOut: (endpoint, data) => run({ in: false, endpoint: endpoint & 0x0f, transferFlags: 0, length: data.length, interval: 0, data }),
    bulkIn: (endpoint, length, into) => run({ in: true, endpoint: endpoint & 0x0f, transferFlags: IN, length, interval: 0, into }),
  };
}
