/**
 * The capture recorder: what the transport host tells it (a transfer was
 * submitted, it completed, a control-plane operation happened) becomes
 * usbmon records in a pcapng stream that Wireshark dissects as USB.
 *
 * One recorder writes one file; each program it records gets an interface
 * of its own (if_name: the program's id), so a capture of a host serving
 * several programs keeps them apart. The host calls a program's
 * {@link CaptureTap} and never waits for it: records are encoded at once
 * (data views of the program's memory are copied before the call returns)
 * and handed to the sink.
 *
 * Mapping (urb-records.ts, docs/capture.md):
 * - a transfer is an 'S' record at submission and a 'C' record at
 *   completion, with the kernel's statuses (usbmon.ts);
 * - SET_CONFIGURATION, SET_INTERFACE and CLEAR_FEATURE(ENDPOINT_HALT) done
 *   through libusb's calls are the control URBs the kernel would send;
 * - open, close, claim, release, reset, arrivals and departures are
 *   annotations: a record of type '@' (the kernel's own filler type, which
 *   no URB has; the dissector shows it as an unknown URB type) carrying the
 *   text as a packet comment;
 * - the first time a device appears in a program's capture, the descriptors
 *   the host read are written as the GET_DESCRIPTOR exchanges of an
 *   enumeration (each record commented "enumeration"), so Wireshark learns
 *   the device's interfaces and a replay has its descriptors.
 * @module
 */
import { TransferStatus } from '../constants.js';
import { PcapngWriter, type ByteSink } from './pcapng.js';
import { describeEvent, type CaptureCompletion, type CaptureDevice, type CaptureEvent, type CaptureRequest, type CaptureTap } from './tap.js';
import {
  annotationRecord, completionRecord, deviceOutcome, endpointIntervals, enumerationExchanges, standardRequestOf,
  submissionRecord, urbInterval, type EndpointIntervals,
} from './urb-records.js';
import { LINKTYPE_USB_LINUX_MMAPPED, encodeUsbmon, usbmonRecordSize, type UsbmonRecord } from './usbmon.js';

/** Options for {@link CaptureRecorder}. */
export interface CaptureRecorderOptions {
  /** Where the pcapng bytes go. */
  sink: ByteSink;
  /** Bytes of data kept per record (default: all). */
  snapLength?: number;
  /** Stop recording past this many bytes (default {@link DEFAULT_CAPTURE_LIMIT}; Infinity: no limit). */
  maxBytes?: number;
  /** Names the capture in messages (a file name). */
  label?: string;
  /** Told once, when the limit is hit. */
  log?: (message: string) => void;
  /** The clock, in microseconds since the epoch (tests pin it). */
  now?: () => number;
}

/** The default size limit of a capture: 256 MiB. */
export const DEFAULT_CAPTURE_LIMIT = 256 * 1024 * 1024;
/** Room kept under the limit for the record that says the limit was hit. */
const LIMIT_NOTE_RESERVE = 512;
/** The comment on each record of a synthesized enumeration. */
export const ENUMERATION_COMMENT = 'enumeration';

const wallClockMicros = () => (performance.timeOrigin + performance.now()) * 1000;

/** Writes one pcapng capture (see the module's description). */
export class CaptureRecorder {
  private readonly writer: PcapngWriter;
  private readonly snapLength: number;
  private readonly maxBytes: number;
  private readonly options: CaptureRecorderOptions;
  private readonly now: () => number;
  private nextId = 1n;
  private full = false;
  private closed = false;

  constructor(options: CaptureRecorderOptions) {
    this.options = options;
    this.snapLength = options.snapLength ?? Infinity;
    this.maxBytes = options.maxBytes ?? DEFAULT_CAPTURE_LIMIT;
    if (!(this.snapLength >= 0)) throw new Error(`capture: the snap length must be 0 or more, got ${options.snapLength}`);
    if (!(this.maxBytes > 4096)) throw new Error(`capture: the size limit must be more than 4096 bytes, got ${options.maxBytes}`);
    this.now = options.now ?? wallClockMicros;
    this.writer = new PcapngWriter(options.sink, 'libusb-wasm');
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.writer.bytesWritten;
  }

  /** Whether the size limit stopped the capture. */
  get limitReached(): boolean {
    return this.full;
  }

  /** Start recording a program: a new interface named by its id. */
  program(id: string, description = `libusb-wasm program ${id}`): CaptureTap {
    const iface = { linkType: LINKTYPE_USB_LINUX_MMAPPED, snapLength: Number.isFinite(this.snapLength) ? 64 + this.snapLength : 0, name: id, description };
    if (!this.room(PcapngWriter.interfaceBlockSize(iface))) return DISCARD;
    return new ProgramCapture(this, this.writer.addInterface(iface));
  }

  /** Stop: later calls of any tap are ignored. */
  close(): void {
    this.closed = true;
  }

  /** @internal A fresh URB id. */
  urbId(): bigint {
    return this.nextId++;
  }

  /** @internal Write one record (its data cut to the snap length) on an interface. */
  write(interfaceId: number, record: UsbmonRecord, comment?: string): void {
    if (this.closed || this.full) return;
    const micros = Math.floor(this.now());
    record.seconds = Math.floor(micros / 1e6);
    record.microseconds = micros % 1e6;
    const original = usbmonRecordSize(record);
    if (record.data && record.data.length > this.snapLength) record.data = record.data.subarray(0, this.snapLength);
    const size = usbmonRecordSize(record);
    if (!this.room(PcapngWriter.packetBlockSize(size, comment), interfaceId)) return;
    this.writer.writePacket(interfaceId, micros, size, original, (out, offset) => encodeUsbmon(record, out, offset), comment);
  }

  /** Whether a block fits under the limit; the first time one does not, say so (in the capture too) and stop. */
  private room(blockSize: number, interfaceId?: number): boolean {
    if (this.closed || this.full) return false;
    if (this.writer.bytesWritten + blockSize <= this.maxBytes - LIMIT_NOTE_RESERVE) return true;
    this.full = true;
    const message = `capture${this.options.label ? ' ' + this.options.label : ''}: reached its size limit of ${this.maxBytes} bytes; `
      + 'later transfers are not recorded (raise the limit: capture maxBytes, --capture-limit; or keep less of each '
      + 'transfer: capture snapLength, --capture-snaplen)';
    if (interfaceId !== undefined) {
      const note = annotationRecord(undefined);
      this.writer.writePacket(interfaceId, Math.floor(this.now()), 64, 64, (out, offset) => encodeUsbmon(note, out, offset), message);
    }
    this.options.log?.(message);
    return false;
  }
}

/**
 * A transport's answer as the recorder can use it: the host may pass what
 * the transport answered before checking it, so anything odd is left out
 * (the host's own checks decide what libusb gets).
 */
function wellFormed(c: CaptureCompletion): CaptureCompletion {
  if (!c || typeof c !== 'object') return { status: TransferStatus.ERROR };
  const bytes = (v: unknown) => (v instanceof Uint8Array ? v : undefined);
  const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined);
  return {
    status: typeof c.status === 'number' ? c.status : TransferStatus.ERROR,
    data: bytes(c.data),
    bytesWritten: count(c.bytesWritten),
    isoPackets: Array.isArray(c.isoPackets)
      ? c.isoPackets.map((p) => (p && typeof p === 'object' ? { status: typeof p.status === 'number' ? p.status : TransferStatus.ERROR, data: bytes(p.data), length: count(p.length) } : { status: TransferStatus.ERROR }))
      : undefined,
  };
}

/** A tap that records nothing (the capture was full before the program came). */
const DISCARD: CaptureTap = { submitted() {}, completed() {}, annotate() {} };

/** One program's interface in a capture. Nothing it does throws: a capture never breaks a transfer. */
class ProgramCapture implements CaptureTap {
  private readonly recorder: CaptureRecorder;
  private readonly interfaceId: number;
  /** URB ids of transfers submitted and not completed. */
  private readonly pending = new Map<CaptureRequest, bigint>();
  /** Devices this program's capture has shown (their enumeration is written). */
  private readonly seen = new WeakSet<CaptureDevice>();
  private readonly intervals = new WeakMap<CaptureDevice, EndpointIntervals>();

  constructor(recorder: CaptureRecorder, interfaceId: number) {
    this.recorder = recorder;
    this.interfaceId = interfaceId;
  }

  submitted(device: CaptureDevice, request: CaptureRequest): void {
    try {
      this.introduce(device);
      const id = this.recorder.urbId();
      this.pending.set(request, id);
      this.recorder.write(this.interfaceId, submissionRecord(id, device, request, this.interval(device, request.endpoint)));
    } catch (e) {
      this.failed(e);
    }
  }

  completed(device: CaptureDevice, request: CaptureRequest, completion: CaptureCompletion): void {
    try {
      this.introduce(device);
      const id = this.pending.get(request) ?? this.recorder.urbId();
      this.pending.delete(request);
      this.recorder.write(this.interfaceId, completionRecord(id, device, request, wellFormed(completion), this.interval(device, request.endpoint)));
    } catch (e) {
      this.failed(e);
    }
  }

  annotate(device: CaptureDevice | undefined, event: CaptureEvent, status = 0): void {
    try {
      if (device && event.kind !== 'left') this.introduce(device);
      const comment = describeEvent(event, status);
      const request = standardRequestOf(event);
      const outcome = deviceOutcome(status);
      if (device && request && outcome !== undefined) {
        const id = this.recorder.urbId();
        this.recorder.write(this.interfaceId, submissionRecord(id, device, request), comment);
        this.recorder.write(this.interfaceId, completionRecord(id, device, request, { status: outcome }), comment);
      } else {
        this.recorder.write(this.interfaceId, annotationRecord(device), comment);
      }
    } catch (e) {
      this.failed(e);
    }
  }

  /** The first time a device shows up: its descriptors, as the GET_DESCRIPTOR exchanges of an enumeration. */
  private introduce(device: CaptureDevice): void {
    if (this.seen.has(device)) return;
    this.seen.add(device);
    for (const { request, answer } of enumerationExchanges(device)) {
      const id = this.recorder.urbId();
      this.recorder.write(this.interfaceId, submissionRecord(id, device, request), ENUMERATION_COMMENT);
      this.recorder.write(this.interfaceId, completionRecord(id, device, request, { status: TransferStatus.COMPLETED, data: answer }),
        ENUMERATION_COMMENT);
    }
  }

  private interval(device: CaptureDevice, endpoint: number): number {
    let map = this.intervals.get(device);
    if (!map) {
      map = endpointIntervals(device.descriptors?.configurations ?? []);
      this.intervals.set(device, map);
    }
    return urbInterval(map, endpoint, device.speed);
  }

  /** A record that could not be made is left out; the capture says so once. */
  private failed(e: unknown): void {
    if (this.complained) return;
    this.complained = true;
    try {
      this.recorder.write(this.interfaceId, annotationRecord(undefined), `capture: a record was left out: ${(e as Error)?.message ?? e}`);
    } catch {
      // nothing more to do
    }
  }

  private complained = false;
}
