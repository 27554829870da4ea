/**
 * pcapng, the file format Wireshark and tcpdump read and write
 * (draft-ietf-opsawg-pcapng): a writer that streams blocks to a sink, and
 * a reader for pcapng and classic pcap files.
 *
 * The writer makes one section (a Section Header Block), one interface per
 * Interface Description Block (name and description options: the recorder
 * uses one per program) and Enhanced Packet Blocks with microsecond
 * timestamps (the default resolution) and an optional comment. Everything
 * is little-endian.
 * @module
 */

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_PB = 0x00000002;
const BLOCK_SPB = 0x00000003;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
/** Classic pcap magic numbers: microsecond and nanosecond timestamps. */
const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const pad4 = (n: number) => (n + 3) & ~3;

/** Where the writer's bytes go. */
export interface ByteSink {
  /** Take a chunk; the writer never touches it again. */
  write(chunk: Uint8Array): void;
}

/** An interface of a capture: what its packets are and where they came from. */
export interface InterfaceDescription {
  /** The LINKTYPE_ value of its packets. */
  linkType: number;
  /** Largest packet kept; 0: no limit. */
  snapLength: number;
  /** if_name. */
  name?: string;
  /** if_description. */
  description?: string;
}

type Option = [code: number, value: Uint8Array];

function optionsSize(options: Option[]): number {
  if (!options.length) return 0;
  return options.reduce((n, [, v]) => n + 4 + pad4(v.length), 0) + 4;
}

function writeOptions(v: DataView, out: Uint8Array, at: number, options: Option[]): number {
  if (!options.length) return at;
  for (const [code, value] of options) {
    v.setUint16(at, code, true);
    v.setUint16(at + 2, value.length, true);
    out.set(value, at + 4);
    at += 4 + pad4(value.length);
  }
  v.setUint32(at, OPT_END, true); // opt_endofopt: code 0, length 0
  return at + 4;
}

/** A block: type, total length, body (filled by `fill` from offset 8), options, total length again. */
function block(type: number, bodySize: number, options: Option[], fill: (v: DataView, out: Uint8Array) => void): Uint8Array {
  const total = 12 + pad4(bodySize) + optionsSize(options);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, total, true);
  fill(v, out);
  writeOptions(v, out, 8 + pad4(bodySize), options);
  v.setUint32(total - 4, total, true);
  return out;
}

/** Streams a pcapng section to a sink (see the module's description). */
export class PcapngWriter {
  /** Bytes handed to the sink so far. */
  bytesWritten = 0;
  private interfaces = 0;
  private readonly sink: ByteSink;

  /** Writes the Section Header Block at once; `application` becomes shb_userappl. */
  constructor(sink: ByteSink, application: string) {
    this.sink = sink;
    const options: Option[] = [[SHB_USERAPPL, encoder.encode(application)]];
    this.emit(block(BLOCK_SHB, 16, options, (v) => {
      v.setUint32(8, BYTE_ORDER_MAGIC, true);
      v.setUint16(12, 1, true); // major version
      v.setUint16(14, 0, true); // minor version
      v.setBigInt64(16, -1n, true); // section length: not given
    }));
  }

  /** Bytes an Interface Description Block for `description` takes. */
  static interfaceBlockSize(description: InterfaceDescription): number {
    return 12 + 8 + optionsSize(interfaceOptions(description));
  }

  /** Add an interface; returns its id (the interface_id of its packets). */
  addInterface(description: InterfaceDescription): number {
    this.emit(block(BLOCK_IDB, 8, interfaceOptions(description), (v) => {
      v.setUint16(8, description.linkType, true);
      v.setUint16(10, 0, true);
      v.setUint32(12, description.snapLength >>> 0, true);
    }));
    return this.interfaces++;
  }

  /** Bytes an Enhanced Packet Block with `capturedLength` bytes of packet and this comment takes. */
  static packetBlockSize(capturedLength: number, comment?: string): number {
    return 12 + 20 + pad4(capturedLength) + (comment === undefined ? 0 : optionsSize([[OPT_COMMENT, encoder.encode(comment)]]));
  }

  /**
   * Write an Enhanced Packet Block: `fill` writes the `capturedLength`
   * packet bytes into the block at `offset` (so a record is encoded once,
   * in place). `originalLength` is the packet's length before any snap.
   */
  writePacket(interfaceId: number, timestampMicros: number, capturedLength: number, originalLength: number,
    fill: (out: Uint8Array, offset: number) => void, comment?: string): number {
    const options: Option[] = comment === undefined ? [] : [[OPT_COMMENT, encoder.encode(comment)]];
    const out = block(BLOCK_EPB, 20 + capturedLength, options, (v, bytes) => {
      const ts = Math.max(0, Math.floor(timestampMicros));
      v.setUint32(8, interfaceId, true);
      v.setUint32(12, Math.floor(ts / 0x100000000), true);
      v.setUint32(16, ts >>> 0, true);
      v.setUint32(20, capturedLength, true);
      v.setUint32(24, originalLength, true);
      fill(bytes, 28);
    });
    this.emit(out);
    return out.length;
  }

  private emit(chunk: Uint8Array): void {
    this.bytesWritten += chunk.length;
    this.sink.write(chunk);
  }
}

function interfaceOptions(d: InterfaceDescription): Option[] {
  const options: Option[] = [];
  if (d.name !== undefined) options.push([IF_NAME, encoder.encode(d.name)]);
  if (d.description !== undefined) options.push([IF_DESCRIPTION, encoder.encode(d.description)]);
  options.push([IF_TSRESOL, new Uint8Array([6])]); // microseconds (the default, said out loud)
  return options;
}

// ---- reading ----------------------------------------------------------------

/** An interface of a capture file, as read. */
export interface CaptureFileInterface {
  /** The LINKTYPE_ value of its packets. */
  linkType: number;
  /** if_name, when given. */
  name?: string;
  /** if_description, when given. */
  description?: string;
  /** Whether its section (or file) is little-endian: multi-byte fields in its packets follow it. */
  littleEndian: boolean;
}

/** A packet of a capture file, as read. */
export interface CaptureFilePacket {
  /** Index into {@link CaptureFile.interfaces}. */
  interfaceIndex: number;
  /** Microseconds since the epoch. */
  timestampMicros: number;
  /** The bytes captured (a view of the file). */
  data: Uint8Array;
  /** The packet's length before any snap. */
  originalLength: number;
  /** Its comments (opt_comment). */
  comments: string[];
}

/** A capture file's interfaces and packets, in file order. */
export interface CaptureFile {
  /** The file's format. */
  format: 'pcapng' | 'pcap';
  /** Every interface of every section, in order. */
  interfaces: CaptureFileInterface[];
  /** Every packet, in file order. */
  packets: CaptureFilePacket[];
}

/** Read a pcapng or classic pcap file. Throws a message naming what is wrong and where. */
export function readCaptureFile(bytes: Uint8Array): CaptureFile {
  if (bytes.length < 24) throw new Error(`not a capture file: ${bytes.length} bytes`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (v.getUint32(0, true) === BLOCK_SHB) return readPcapng(bytes, v);
  for (const le of [true, false]) {
    const magic = v.getUint32(0, le);
    if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS) return readPcap(bytes, v, le, magic === PCAP_MAGIC_NS);
  }
  throw new Error('not a pcapng or pcap file (unknown magic number)');
}

interface SectionInterface extends CaptureFileInterface {
  /** Timestamp units per second. */
  unitsPerSecond: bigint;
}

function readPcapng(bytes: Uint8Array, v: DataView): CaptureFile {
  const file: CaptureFile = { format: 'pcapng', interfaces: [], packets: [] };
  let le = true;
  let section: SectionInterface[] = [];
  let at = 0;
  while (at + 12 <= bytes.length) {
    const type = v.getUint32(at, le);
    if (type === BLOCK_SHB) {
      // the byte-order magic says how to read this section, its own length included
      const magic = v.getUint32(at + 8, true);
      if (magic === BYTE_ORDER_MAGIC) le = true;
      else if (magic === 0x4d3c2b1a) le = false;
      else throw new Error(`pcapng: bad byte-order magic in the section header at offset ${at}`);
      section = [];
    }
    const length = v.getUint32(at + 4, le);
    if (length < 12 || length % 4 || at + length > bytes.length) {
      throw new Error(`pcapng: a block at offset ${at} has length ${length}, past the end of the file (${bytes.length} bytes): truncated?`);
    }
    const body = at + 8;
    const end = at + length - 4;
    if (type === BLOCK_IDB) {
      const options = readOptions(bytes, v, body + 8, end, le);
      const resolution = options.get(IF_TSRESOL)?.[0]?.[0] ?? 6;
      const unitsPerSecond = resolution & 0x80 ? 1n << BigInt(resolution & 0x7f) : 10n ** BigInt(resolution);
      const iface: SectionInterface = {
        linkType: v.getUint16(body, le), littleEndian: le, unitsPerSecond,
        name: text(options.get(IF_NAME)?.[0]), description: text(options.get(IF_DESCRIPTION)?.[0]),
      };
      section.push(iface);
      file.interfaces.push(iface);
    } else if (type === BLOCK_EPB || type === BLOCK_PB) {
      // the obsolete Packet Block has a 16-bit interface id and drop count where the EPB has a 32-bit id
      const id = type === BLOCK_EPB ? v.getUint32(body, le) : v.getUint16(body, le);
      const iface = section[id];
      if (!iface) throw new Error(`pcapng: a packet at offset ${at} names interface ${id}, which its section does not describe`);
      const units = (BigInt(v.getUint32(body + 4, le)) << 32n) | BigInt(v.getUint32(body + 8, le));
      const captured = v.getUint32(body + 12, le);
      const dataAt = body + 20;
      if (dataAt + captured > end) throw new Error(`pcapng: a packet at offset ${at} claims ${captured} bytes, more than its block holds`);
      const comments = (readOptions(bytes, v, dataAt + pad4(captured), end, le).get(OPT_COMMENT) ?? []).map((c) => decoder.decode(c));
      file.packets.push({
        interfaceIndex: file.interfaces.indexOf(iface),
        timestampMicros: Number((units * 1000000n) / iface.unitsPerSecond),
        data: bytes.subarray(dataAt, dataAt + captured),
        originalLength: v.getUint32(body + 16, le),
        comments,
      });
    } else if (type === BLOCK_SPB) {
      const iface = section[0];
      if (!iface) throw new Error(`pcapng: a simple packet at offset ${at} comes before any interface`);
      const original = v.getUint32(body, le);
      file.packets.push({
        interfaceIndex: file.interfaces.indexOf(iface), timestampMicros: 0,
        data: bytes.subarray(body + 4, Math.min(body + 4 + original, end)), originalLength: original, comments: [],
      });
    }
    at += length;
  }
  return file;
}

function readOptions(bytes: Uint8Array, v: DataView, at: number, end: number, le: boolean): Map<number, Uint8Array[]> {
  const options = new Map<number, Uint8Array[]>();
  while (at + 4 <= end) {
    const code = v.getUint16(at, le);
    const length = v.getUint16(at + 2, le);
    if (code === OPT_END) break;
    if (at + 4 + length > end) break; // a broken option ends the list, not the file
    const list = options.get(code) ?? [];
    list.push(bytes.subarray(at + 4, at + 4 + length));
    options.set(code, list);
    at += 4 + pad4(length);
  }
  return options;
}

function text(bytes: Uint8Array | undefined): string | undefined {
  return bytes ? decoder.decode(bytes) : undefined;
}

function readPcap(bytes: Uint8Array, v: DataView, le: boolean, nanoseconds: boolean): CaptureFile {
  const iface: CaptureFileInterface = { linkType: v.getUint32(20, le) & 0xffff, littleEndian: le };
  const file: CaptureFile = { format: 'pcap', interfaces: [iface], packets: [] };
  let at = 24;
  while (at + 16 <= bytes.length) {
    const seconds = v.getUint32(at, le);
    const fraction = v.getUint32(at + 4, le);
    const captured = v.getUint32(at + 8, le);
    if (at + 16 + captured > bytes.length) {
      throw new Error(`pcap: the packet at offset ${at} claims ${captured} bytes, past the end of the file: truncated?`);
    }
    file.packets.push({
      interfaceIndex: 0,
      timestampMicros: seconds * 1e6 + (nanoseconds ? Math.floor(fraction / 1000) : fraction),
      data: bytes.subarray(at + 16, at + 16 + captured),
      originalLength: v.getUint32(at + 12, le),
      comments: [],
    });
    at += 16 + captured;
  }
  return file;
}
