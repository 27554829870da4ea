/**
 * The program's end of its link to the transport host, in the program's
 * worker (Node or browser), installed as Module.libusbWasmHost: attach()
 * hands the program's memory to the host over a MessagePort and returns at
 * once (the C side then waits until the host marks the block attached), and
 * if the host goes away — its worker ended or crashed, the port closed —
 * hostGone() marks the program's block GONE itself, so every libusb call and
 * transfer of the program ends with NO_DEVICE at once instead of waiting for
 * a host that will not answer.
 * @module
 */
import { markHostGone } from '../../host/program/channel.js';
import { LW_HOST_GONE, LwShared } from '../../host/protocol.gen.js';
import type { AttachMessage } from './host-service.js';

/** From the embedder's side to a program's worker: the host's worker ended or failed (runProgram saw it). */
export interface HostGoneMessage {
  t: 'host-gone';
  why: string;
}

/** LIBUSB_ERROR_BUSY: one shared block per program. */
const ERROR_BUSY = -6;

export class HostLink {
  private attached?: { memory: WebAssembly.Memory; ptr: number };
  private gone?: string;
  /** Set when the host went away under the program (not a kill or detach of its own): why. */
  lost?: string;

  constructor(
    private readonly port: { postMessage(message: unknown): void },
    /** Where to say that the host went (the program's stderr). */
    private readonly say: (line: string) => void,
  ) {}

  /** Module.libusbWasmHost.attach, called once by the backend's libusb_init (through our JS library). */
  attach(memory: WebAssembly.Memory, ptr: number): number {
    if (this.attached) return ERROR_BUSY;
    this.attached = { memory, ptr };
    if (this.gone) {
      markHostGone(memory, ptr);
      return 0;
    }
    this.port.postMessage({ t: 'attach', memory, ptr } satisfies AttachMessage);
    return 0;
  }

  /** The host is gone (`why` says how): the program's requests fail from now on. */
  hostGone(why: string): void {
    if (this.gone) return;
    this.gone = why;
    if (!this.attached) return;
    const { memory, ptr } = this.attached;
    // the host let the program go itself (a kill, a detach): nothing to add
    if (Atomics.load(new Int32Array(memory.buffer), (ptr + LwShared.host_state) >> 2) === LW_HOST_GONE) return;
    this.lost = why;
    this.say(`libusb-wasm: the transport host is gone (${why}); every device operation now fails with LIBUSB_ERROR_NO_DEVICE`);
    markHostGone(memory, ptr);
  }
}
