/**
 * The kernel's usbmon text interface (Documentation/usb/usbmon.rst), read
 * back, and the same events taken from one of our captures, so the two can
 * be compared: per event its type, transfer type, endpoint, direction,
 * status and length.
 */
import { ENUMERATION_COMMENT } from '../../ts/usb/capture/recorder.js';
import { readCaptureFile } from '../../ts/usb/capture/pcapng.js';
import { decodeUsbmon } from '../../ts/usb/capture/usbmon.js';

/** One URB event, as both usbmon and our capture can say it. */
export interface UrbEvent {
  event: 'S' | 'C';
  /** C(ontrol), I(nterrupt), B(ulk), Z (isochronous): usbmon's letters. */
  type: string;
  endpoint: number;
  direction: 'i' | 'o';
  status: number;
  length: number;
  /** Control submissions: the setup packet's five fields as usbmon prints them (for messages). */
  setup?: string;
}

const LETTER: Record<number, string> = { 0: 'Z', 1: 'I', 2: 'C', 3: 'B' };

export const describeUrb = (e: UrbEvent) => `${e.event} ${e.type}${e.direction}:${e.endpoint} ${e.status} ${e.length}${e.setup ? ` s ${e.setup}` : ''}`;

/**
 * Whether the kernel's event is ours: the same event, transfer type,
 * endpoint, direction and status, and length, except that an IN submission
 * may ask the kernel for more than the program did (the npm `usb` package
 * asks for whole max-size packets; what completes is the same).
 */
export function sameUrb(ours: UrbEvent, kernel: UrbEvent): boolean {
  const sameLength = ours.length === kernel.length
    || (ours.event === 'S' && ours.direction === 'i' && ours.type !== 'C' && kernel.length >= ours.length);
  return ours.event === kernel.event && ours.type === kernel.type && ours.endpoint === kernel.endpoint
    && ours.direction === kernel.direction && ours.status === kernel.status && sameLength;
}

/**
 * The S and C events of one device in a usbmon text trace, in order:
 * `<tag> <time> <S|C|E> <Bo:bus:dev:ep> <status[:interval...]|s setup x5> <length> ...`.
 */
export function usbmonTextEvents(text: string, bus: number, address: number): UrbEvent[] {
  const events: UrbEvent[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length < 6 || (t[2] !== 'S' && t[2] !== 'C')) continue;
    const m = /^([CZIB])([io]):(\d+):(\d+):(\d+)$/.exec(t[3]);
    if (!m || Number(m[3]) !== bus || Number(m[4]) !== address) continue;
    const setup = t[4] === 's';
    events.push({
      event: t[2], type: m[1], direction: m[2] as 'i' | 'o', endpoint: Number(m[5]),
      status: setup ? -115 : parseInt(t[4].split(':')[0], 10), length: Number(setup ? t[10] : t[5]),
      setup: setup ? t.slice(5, 10).join(' ') : undefined,
    });
  }
  return events;
}

/** The same events from our capture: its transfers on the device, without the enumeration we write and our annotations. */
export function captureEvents(bytes: Uint8Array, bus: number, address: number): UrbEvent[] {
  const file = readCaptureFile(bytes);
  const events: UrbEvent[] = [];
  for (const p of file.packets) {
    if (p.comments.includes(ENUMERATION_COMMENT)) continue;
    const iface = file.interfaces[p.interfaceIndex];
    const r = decodeUsbmon(p.data, iface.linkType, iface.littleEndian);
    if ((r.type !== 'S' && r.type !== 'C') || r.busNumber !== bus || r.deviceAddress !== address) continue;
    events.push({
      event: r.type, type: LETTER[r.transferType], direction: r.endpoint & 0x80 ? 'i' : 'o', endpoint: r.endpoint & 0x0f,
      status: r.status, length: r.urbLength,
    });
  }
  return events;
}
