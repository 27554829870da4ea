/**
 * What the transport host tells a capture: the {@link CaptureTap} it calls
 * for each program, and the shapes of what it passes (structural: the
 * Transport interface's TransferRequest and TransferCompletion fit, so
 * this module needs nothing above ts/usb).
 * @module
 */
import type { TransferStatusCode, TransferTypeCode } from '../constants.js';
import type { SetupFields } from '../setup-packet.js';

/** A device as the capture names it. Pass the same object for the same device every time. */
export interface CaptureDevice {
  /** Bus number. */
  readonly busNumber: number;
  /** Address on the bus. */
  readonly deviceAddress: number;
  /** libusb speed code (interrupt intervals depend on it); default high speed. */
  readonly speed?: number;
  /** Raw descriptors the host read, written as an enumeration when the device first appears. */
  readonly descriptors?: {
    readonly device: Uint8Array;
    readonly configurations: readonly Uint8Array[];
    readonly bos?: Uint8Array;
  };
  /** Strings the host read, written as string descriptors in that enumeration. */
  readonly strings?: { readonly manufacturer?: string; readonly product?: string; readonly serialNumber?: string };
}

/** A transfer as the host hands it to a transport (the Transport interface's TransferRequest fits). */
export interface CaptureRequest {
  /** libusb transfer type. */
  readonly type: TransferTypeCode;
  /** Endpoint address with its direction bit (control: 0x00 or 0x80). */
  readonly endpoint: number;
  /** Control transfers: the setup packet. */
  readonly setup?: Readonly<SetupFields>;
  /** OUT data. */
  readonly data?: Uint8Array;
  /** Bytes asked for (IN) or sent (OUT); control: the data stage. */
  readonly length: number;
  /** Isochronous: each packet's length. */
  readonly isoPacketLengths?: ArrayLike<number>;
  /** A zero-length packet ends the OUT transfer. */
  readonly zeroLengthPacket: boolean;
}

/** A transfer's outcome (the Transport interface's TransferCompletion fits). */
export interface CaptureCompletion {
  /** libusb transfer status. */
  readonly status: TransferStatusCode | number;
  /** IN data. */
  readonly data?: Uint8Array;
  /** OUT: bytes the device took. */
  readonly bytesWritten?: number;
  /** Isochronous: each packet's outcome. */
  readonly isoPackets?: readonly { readonly status: number; readonly data?: Uint8Array; readonly length?: number }[];
}

/** A control-plane event of a program (see the module's description for how each is recorded). */
export type CaptureEvent =
  | { kind: 'open' | 'close' | 'reset' | 'arrived' | 'left' }
  | { kind: 'claim' | 'release' | 'detach_kernel_driver' | 'attach_kernel_driver'; interface: number }
  | { kind: 'set_configuration'; value: number }
  | { kind: 'set_alternate'; interface: number; alternate: number }
  | { kind: 'clear_halt'; endpoint: number }
  | { kind: 'note'; text: string };

/** What the transport host calls for one program. Every call returns at once and never throws. */
export interface CaptureTap {
  /** A transfer goes to the transport (call it before handing the request over). */
  submitted(device: CaptureDevice, request: CaptureRequest): void;
  /** It completed (call it before the program can see the result: the data must still be there). */
  completed(device: CaptureDevice, request: CaptureRequest, completion: CaptureCompletion): void;
  /** A control-plane event, after it ran: `status` is its libusb error code (0: it succeeded). */
  annotate(device: CaptureDevice | undefined, event: CaptureEvent, status?: number): void;
}

/** The comment an event carries: what libusb call it was, and how it ended. */
export function describeEvent(event: CaptureEvent, status = 0): string {
  let text: string;
  switch (event.kind) {
    case 'open': text = 'libusb_open'; break;
    case 'close': text = 'libusb_close'; break;
    case 'reset': text = 'libusb_reset_device'; break;
    case 'arrived': text = 'hotplug: device arrived'; break;
    case 'left': text = 'hotplug: device left'; break;
    case 'claim': text = `libusb_claim_interface ${event.interface}`; break;
    case 'release': text = `libusb_release_interface ${event.interface}`; break;
    case 'detach_kernel_driver': text = `libusb_detach_kernel_driver ${event.interface}`; break;
    case 'attach_kernel_driver': text = `libusb_attach_kernel_driver ${event.interface}`; break;
    case 'set_configuration': text = `libusb_set_configuration ${event.value}`; break;
    case 'set_alternate': text = `libusb_set_interface_alt_setting ${event.interface} ${event.alternate}`; break;
    case 'clear_halt': text = `libusb_clear_halt 0x${event.endpoint.toString(16).padStart(2, '0')}`; break;
    case 'note': text = event.text; break;
  }
  return status ? `${text}: libusb error ${status}` : text;
}

