/**
 * The client's connections to a USB/IP server: one short connection per
 * device list (OP_REQ_DEVLIST, answered, closed), and one per imported
 * device (OP_REQ_IMPORT, then URBs for as long as it stays open). Many URBs
 * are in flight on one connection; each has a seqnum, and the replies come
 * back in any order.
 * @module
 */
import { BufferPool } from './buffer-pool.js';
import { UsbipParser, type SubmittedUrbs } from './parser.js';
import {
  OpStatus, UsbipProtocolError, cmdSubmitSize, devidOf, encodeCmdSubmit, encodeCmdUnlink, encodeReqDevlist, encodeReqImport,
  type CmdSubmit, type IsoPacketDescriptor, type UsbipDeviceInfo, type UsbipMessage,
} from './protocol.js';
import { Errno } from '../../usb/urb-status.js';
import { describeAddress, type ByteStream, type UsbipConnector, type UsbipServerAddress } from './stream.js';

/** The SETUP field of a transfer that is not a control transfer (read only, never written). */
const NO_SETUP = new Uint8Array(8);

/** How long a server may take to answer an operation (list, import), by default. */
export const OPERATION_TIMEOUT_MS = 10_000;
/**
 * How long a server may take to answer a USBIP_CMD_UNLINK (with RET_UNLINK,
 * or the URB's RET_SUBMIT). usbip-host answers at once; a server that does
 * not is not serving this connection any more, and it is closed.
 */
export const UNLINK_TIMEOUT_MS = 5_000;

/** An import the server refused (OP_REP_IMPORT with a status). */
export class ImportRefusedError extends Error {
  constructor(readonly busid: string, readonly status: number) {
    super(`usbip: the server refused to export ${busid} (status ${status}${status === OpStatus.DEV_BUSY ? ': busy' : ''}; another client may have it)`);
    this.name = 'ImportRefusedError';
  }
}

/**
 * Open a connection, send one operation, and wait for the parser to produce
 * its reply (within `timeoutMs`). Resolves with the reply and the
 * open stream; `onMessages` gets what follows the reply on the same stream.
 */
async function operation(connect: UsbipConnector, address: UsbipServerAddress, parser: UsbipParser, request: Uint8Array,
  timeoutMs: number, after: { onMessages(m: UsbipMessage[]): void; onClose(error?: Error): void },
): Promise<{ reply: UsbipMessage; stream: ByteStream }> {
  const where = describeAddress(address);
  let settle!: { resolve(m: UsbipMessage): void; reject(e: Error): void };
  const replied = new Promise<UsbipMessage>((resolve, reject) => (settle = { resolve, reject }));
  let reply: UsbipMessage | undefined;
  let stream: ByteStream | undefined;
  stream = await connect(address, {
    onData(chunk) {
      let messages: UsbipMessage[];
      try {
        messages = parserPush(parser, chunk);
      } catch (e) {
        if (reply) after.onClose(e as Error);
        else settle.reject(e as Error);
        stream?.close();
        return;
      }
      if (!reply && messages.length) {
        reply = messages.shift()!;
        settle.resolve(reply);
      }
      if (reply && messages.length) after.onMessages(messages);
    },
    onClose(error) {
      if (reply) after.onClose(error);
      else settle.reject(error ?? new Error(`usbip: ${where} closed the connection without answering`));
    },
  });
  stream.write(request);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`usbip: ${where} did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    return { reply: await Promise.race([replied, timeout]), stream };
  } catch (e) {
    stream.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** parser.push, with a protocol error worded for the client's log. */
function parserPush(parser: UsbipParser, chunk: Uint8Array): UsbipMessage[] {
  try {
    return parser.push(chunk);
  } catch (e) {
    if (e instanceof UsbipProtocolError) throw new UsbipProtocolError(`usbip: the server broke the protocol: ${e.message}`);
    throw e;
  }
}

/** OP_REQ_DEVLIST: the devices the server exports. */
export async function listExportedDevices(connect: UsbipConnector, address: UsbipServerAddress,
  timeoutMs = OPERATION_TIMEOUT_MS): Promise<UsbipDeviceInfo[]> {
  const { reply, stream } = await operation(connect, address, UsbipParser.forClient('devlist'), encodeReqDevlist(), timeoutMs,
    { onMessages() {}, onClose() {} });
  stream.close();
  if (reply.type !== 'rep-devlist') throw new Error('usbip: unexpected reply');
  if (reply.status !== OpStatus.OK) throw new Error(`usbip: ${describeAddress(address)} answered the device list with status ${reply.status}`);
  return reply.devices;
}

/** A USBIP_CMD_SUBMIT to send. */
export interface UrbSubmission {
  /** In: data flows from the device. */
  in: boolean;
  /** Endpoint number (0..15). */
  endpoint: number;
  transferFlags: number;
  /** Bytes asked for (IN) or sent (OUT). */
  length: number;
  interval: number;
  /** The SETUP packet (control). */
  setup?: Uint8Array;
  /** OUT data (copied into the message). */
  data?: Uint8Array;
  /** Isochronous packets (offsets and lengths). */
  isoPackets?: IsoPacketDescriptor[];
  /** IN, not isochronous: where the data may be written as it arrives. */
  into?: Uint8Array;
}

/** How a URB ended. */
export interface UrbOutcome {
  /** 0 or a negative errno. */
  status: number;
  actualLength: number;
  /** IN data. */
  data?: Uint8Array;
  isoPackets?: IsoPacketDescriptor[];
  /** It ended by USBIP_RET_UNLINK (no data comes with that). */
  unlinked?: boolean;
  /** The connection ended (dropped, closed, or the server broke the protocol). */
  connectionLost?: boolean;
}

interface Pending {
  submission: UrbSubmission;
  resolve(outcome: UrbOutcome): void;
  /** The seqnum of the CMD_UNLINK sent for it. */
  unlinkSeqnum?: number;
  /** Ends the connection if the unlink is not answered in time. */
  unlinkTimer?: ReturnType<typeof setTimeout>;
}

/**
 * An imported device's connection: URBs out, their outcomes back. When it
 * ends (closed, dropped, a protocol error), every URB in flight ends with
 * `connectionLost` and `ended` resolves with the reason.
 */
export class ImportedConnection implements SubmittedUrbs {
  /** The device as OP_REP_IMPORT described it. */
  readonly device: UsbipDeviceInfo;
  /** (busnum << 16) | devnum: every command carries it. */
  readonly devid: number;
  /** Resolves when the connection is over: undefined when closed by us, else why it ended. */
  readonly ended: Promise<Error | undefined>;
  private readonly pending = new Map<number, Pending>();
  /**
   * Buffers for the messages that carry OUT data, used only when the stream
   * reports when it has sent a message (else none would come back).
   */
  private readonly buffers = new BufferPool();
  /** Unlinks awaiting RET_UNLINK: unlink seqnum -> submit seqnum. */
  private readonly unlinks = new Map<number, number>();
  private nextSeqnum = 1;
  private stream?: ByteStream;
  private parser?: UsbipParser;
  private over = false;
  private markEnded!: (reason: Error | undefined) => void;

  private constructor(device: UsbipDeviceInfo) {
    this.device = device;
    this.devid = devidOf(device.busnum, device.devnum);
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
  }

  /** OP_REQ_IMPORT of `busid`; throws ImportRefusedError when the server says no. */
  static async open(connect: UsbipConnector, address: UsbipServerAddress, busid: string,
    timeoutMs = OPERATION_TIMEOUT_MS): Promise<ImportedConnection> {
    let connection: ImportedConnection | undefined;
    const early: UsbipMessage[] = [];
    let earlyEnd: { error?: Error } | undefined;
    const router: SubmittedUrbs = {
      submitted: (seqnum) => connection?.submitted(seqnum),
      unlinking: (seqnum) => connection?.unlinking(seqnum) ?? false,
    };
    const parser = UsbipParser.forClient('import', router);
    const { reply, stream } = await operation(connect, address, parser, encodeReqImport(busid), timeoutMs, {
      onMessages: (m) => (connection ? connection.onMessages(m) : early.push(...m)),
      onClose: (error) => (connection ? connection.finish(error ?? new Error('usbip: the server closed the connection')) : (earlyEnd = { error })),
    });
    if (reply.type !== 'rep-import') throw new Error('usbip: unexpected reply');
    if (reply.status !== OpStatus.OK || !reply.device) {
      stream.close();
      throw new ImportRefusedError(busid, reply.status);
    }
    if (reply.device.busid !== busid) {
      stream.close();
      throw new UsbipProtocolError(`usbip: asked to import ${busid}, the server sent ${reply.device.busid}`);
    }
    connection = new ImportedConnection(reply.device);
    connection.stream = stream;
    connection.parser = parser;
    if (early.length) connection.onMessages(early);
    if (earlyEnd) connection.finish(earlyEnd.error ?? new Error('usbip: the server closed the connection'));
    return connection;
  }

  /** URBs in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Whether the connection still carries URBs. */
  get open(): boolean {
    return !this.over;
  }

  /** Send a USBIP_CMD_SUBMIT; its outcome arrives with the reply (or the end of the connection). */
  submit(s: UrbSubmission): { seqnum: number; outcome: Promise<UrbOutcome> } {
    const seqnum = this.allocateSeqnum();
    const outcome = new Promise<UrbOutcome>((resolve) => {
      if (this.over) {
        resolve({ status: -Errno.ESHUTDOWN, actualLength: 0, connectionLost: true });
        return;
      }
      this.pending.set(seqnum, { submission: s, resolve });
    });
    if (!this.over) {
      const stream = this.stream!;
      const packets = s.isoPackets;
      const m: Omit<CmdSubmit, 'type'> = {
        seqnum, devid: this.devid, direction: s.in ? 1 : 0, endpoint: s.endpoint, transferFlags: s.transferFlags,
        transferBufferLength: s.length, startFrame: 0, numberOfPackets: packets ? packets.length : 0, interval: s.interval,
        setup: s.setup ?? NO_SETUP, data: s.in ? undefined : s.data, isoPackets: packets,
      };
      // a stream that never reports a message sent would never give its buffer back: the message gets one of its own
      const buffer = stream.reportsSent ? this.buffers.take(cmdSubmitSize(m)) : undefined;
      stream.write(encodeCmdSubmit(m, buffer), buffer && (() => this.buffers.give(buffer)));
    }
    return { seqnum, outcome };
  }

  /**
   * Send a USBIP_CMD_UNLINK for a URB in flight. From now on its IN data is
   * no longer written to `into`. Returns false when the URB is not in flight
   * (its reply came already) or an unlink was sent before.
   */
  unlink(seqnum: number): boolean {
    const p = this.pending.get(seqnum);
    if (!p || p.unlinkSeqnum !== undefined || this.over) return false;
    p.submission.into = undefined;
    this.parser?.releaseTarget(seqnum);
    p.unlinkSeqnum = this.allocateSeqnum();
    this.unlinks.set(p.unlinkSeqnum, seqnum);
    p.unlinkTimer = setTimeout(() => {
      this.finish(new UsbipProtocolError(`usbip: the server did not answer USBIP_CMD_UNLINK ${p.unlinkSeqnum} within ${UNLINK_TIMEOUT_MS / 1000} s`));
    }, UNLINK_TIMEOUT_MS);
    this.stream!.write(encodeCmdUnlink({ seqnum: p.unlinkSeqnum, devid: this.devid, unlinkSeqnum: seqnum }));
    return true;
  }

  /** Close the connection (the server releases the device); URBs in flight end with `connectionLost`. */
  close(): void {
    this.finish(undefined);
  }

  submitted(seqnum: number): ReturnType<SubmittedUrbs['submitted']> {
    const p = this.pending.get(seqnum);
    if (!p) return undefined;
    const s = p.submission;
    return { in: s.in, length: s.length, isoPackets: s.isoPackets?.length ?? 0, into: s.into };
  }

  unlinking(seqnum: number): boolean {
    return this.unlinks.has(seqnum);
  }

  private allocateSeqnum(): number {
    const n = this.nextSeqnum;
    this.nextSeqnum = n === 0xffffffff ? 1 : n + 1;
    return n;
  }

  private onMessages(messages: UsbipMessage[]): void {
    for (const m of messages) {
      if (m.type === 'ret-submit') {
        const p = this.pending.get(m.seqnum)!;
        this.pending.delete(m.seqnum);
        clearTimeout(p.unlinkTimer);
        // its unlink is still answered (RET_UNLINK, status 0) and expected
        p.resolve({ status: m.status, actualLength: m.actualLength, data: m.data, isoPackets: m.isoPackets });
      } else if (m.type === 'ret-unlink') {
        const submitSeqnum = this.unlinks.get(m.seqnum)!;
        this.unlinks.delete(m.seqnum);
        const p = this.pending.get(submitSeqnum);
        // no RET_SUBMIT follows a RET_UNLINK for a URB still in flight (stub_rx.c)
        if (p) {
          this.pending.delete(submitSeqnum);
          clearTimeout(p.unlinkTimer);
          p.resolve({ status: m.status, actualLength: 0, unlinked: true });
        }
      }
    }
  }

  private finish(reason: Error | undefined): void {
    if (this.over) return;
    this.over = true;
    this.stream?.close();
    const lost = [...this.pending.values()];
    this.pending.clear();
    this.unlinks.clear();
    for (const p of lost) {
      clearTimeout(p.unlinkTimer);
      p.resolve({ status: -Errno.ESHUTDOWN, actualLength: 0, connectionLost: true });
    }
    this.markEnded(reason);
  }
}
