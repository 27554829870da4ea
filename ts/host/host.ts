/**
 * The transport host: carries out the requests of the programs it serves on
 * one {@link Transport}.
 *
 * One host serves many programs. What is per transport lives here and in
 * what it holds: the devices (devices.ts: enumeration, hotplug; device.ts:
 * each device's shared state, one owner per device) and the audit trail.
 * What is per program lives in a {@link ProgramLink} (program/): its
 * memory, contexts, handles, transfers, policy and serving loop.
 *
 * The host runs on a thread of its own (a worker the embedder starts: see
 * ts/runner/), not in any program's worker, so killing a program cannot take
 * the devices down with it. It never calls into wasm: it reads and writes
 * each program's memory and uses Atomics, so it can live on any thread that
 * was handed the memory.
 * @module
 */
import { ErrorCode } from '../usb/constants.js';
import type { DeviceFilter } from '../usb/filters.js';
import type { Transport } from '../transports/transport.js';
import type { CaptureRecorder } from '../usb/capture/recorder.js';
import { auditOutcome, type AuditAction, type AuditDevice, type AuditEvent } from './audit.js';
import { TRANSPORT_CALL_MS, withDeadline } from './deadline.js';
import { describeError } from '../transports/transport.js';
import type { SharedDevice } from './device.js';
import { DeviceRegistry } from './devices.js';
import { ProgramLink, refuseProgram, type ProgramInfo } from './program/link.js';
import type { HostServices } from './services.js';

export type { ProgramInfo } from './program/link.js';

/** Options for {@link TransportHost}. */
export interface TransportHostOptions {
  /**
   * Spin this many microseconds for the next request before sleeping.
   * Default: adaptive (see program/serve-loop.ts).
   */
  spinMicros?: number;
  /** How long one call into the transport (open, claim, reset...) may take before it fails, in ms. Default 5000. */
  callTimeoutMs?: number;
  /** Diagnostics (device enumeration failures, forged requests and the like). */
  log?: (message: string) => void;
  /** Every audited operation of every program (see audit.ts). */
  onAudit?: (event: AuditEvent) => void;
  /** Record every program's traffic (docs/capture.md): each program gets a tap, an interface of the capture. */
  capture?: CaptureRecorder;
}

/** The longest stop() waits for devices to release and the transport to close. */
const STOP_WAIT_MS = 2000;

export class TransportHost implements HostServices {
  readonly transport: Transport;
  readonly devices: DeviceRegistry;
  readonly callTimeoutMs: number;
  private readonly options: TransportHostOptions;
  private readonly links = new Map<string, ProgramLink>();
  private nextHandleId = 1;
  private stopped = false;
  private keepAlive?: ReturnType<typeof setInterval>;

  constructor(transport: Transport, options: TransportHostOptions = {}) {
    this.transport = transport;
    this.options = options;
    this.callTimeoutMs = options.callTimeoutMs ?? TRANSPORT_CALL_MS;
    this.devices = new DeviceRegistry(transport, {
      deviceArrived: (dev: SharedDevice) => {
        for (const link of this.links.values()) link.deviceArrived(dev);
      },
      deviceLeft: (dev: SharedDevice) => {
        for (const link of this.links.values()) link.deviceLeft(dev);
      },
    }, { callTimeoutMs: this.callTimeoutMs, log: (m) => this.log(m) });
  }

  /** Resolves when the first enumeration is done. */
  get ready(): Promise<void> {
    return this.devices.ready;
  }

  /**
   * Serve a program: attach to its shared block in its memory. Returns 0 or
   * a libusb error code (the program's libusb_init then fails).
   */
  attach(memory: WebAssembly.Memory, sharedPtr: number, info: ProgramInfo): number {
    if (this.stopped || this.links.has(info.id)) {
      this.log(this.stopped ? 'the host has stopped' : `a program with id ${info.id} is attached already`);
      refuseProgram(memory, sharedPtr);
      return this.stopped ? ErrorCode.NO_DEVICE : ErrorCode.BUSY;
    }
    this.startWatching();
    let status: number;
    let link: ProgramLink | undefined;
    try {
      link = new ProgramLink(this, memory, sharedPtr, info, this.options.spinMicros, this.options.capture?.program(info.id));
      status = link.start();
    } catch (e) {
      this.log(`program ${info.id} could not be served: ${describeError(e)}`);
      status = ErrorCode.OTHER;
    }
    if (status === 0 && link) this.links.set(info.id, link);
    else refuseProgram(memory, sharedPtr);
    return status;
  }

  /**
   * Stop serving a program (it was killed or it exited): its transfers end,
   * its interfaces are released and its handles closed. False if no such
   * program was attached.
   */
  async detach(programId: string): Promise<boolean> {
    const link = this.links.get(programId);
    if (!link) return false;
    this.links.delete(programId);
    await link.detach();
    return true;
  }

  /** Let a running program see more devices; those that become visible arrive as hotplug events. */
  grant(programId: string, filter: DeviceFilter): void {
    this.link(programId).grant(filter);
  }

  /** Take a grant back: the devices it covered leave the program (see ProgramLink.revoke). */
  async revoke(programId: string, filter: DeviceFilter): Promise<void> {
    await this.link(programId).revoke(filter);
  }

  /** Ids of the programs being served. */
  programs(): string[] {
    return [...this.links.keys()];
  }

  /** Stop serving every program, and release the transport. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const links = [...this.links.values()];
    await Promise.all([...this.links.keys()].map((id) => this.detach(id)));
    // devices release their interfaces as they answer; one that does not
    // answer must not keep the host (and whoever waits for it) for long
    const bound = Math.min(this.callTimeoutMs, STOP_WAIT_MS);
    await withDeadline(() => Promise.all(links.map((l) => l.released)), bound, 'the release of every interface').catch((e) => this.log(e.message));
    this.devices.stop();
    if (this.keepAlive) clearInterval(this.keepAlive);
    try {
      if (this.transport.close) await withDeadline(() => this.transport.close!(), bound, 'close() of the transport');
    } catch (e) {
      this.log(`closing the transport failed: ${describeError(e)}`);
    }
  }

  /** How many libusb contexts have a thread blocked waiting for events (tests use it). */
  waitingContexts(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.waitingContexts();
    return n;
  }

  // ---- HostServices: what each program's service may ask ---------------------------

  log(message: string): void {
    try {
      (this.options.log ?? ((m: string) => console.error(m)))(`libusb-wasm host: ${message}`);
    } catch {
      // a log callback that throws loses the line, nothing else
    }
  }

  audit(program: string, action: AuditAction, target: { device?: AuditDevice; detail: string }, status: number): void {
    if (!this.options.onAudit) return;
    const event: AuditEvent = { time: Date.now(), program, device: target.device, action, detail: target.detail, outcome: auditOutcome(status) };
    try {
      this.options.onAudit(event);
    } catch (e) {
      this.log(`the audit callback threw: ${describeError(e)}`);
    }
  }

  newHandleId(): number {
    return this.nextHandleId++;
  }

  // ---- internals --------------------------------------------------------------------

  private link(programId: string): ProgramLink {
    const link = this.links.get(programId);
    if (!link) throw new Error(`no program ${programId} is attached to this host`);
    return link;
  }

  private startWatching(): void {
    if (this.keepAlive || this.stopped) return;
    this.devices.start();
    // Atomics.waitAsync alone does not keep a Node event loop alive
    if (typeof setInterval === 'function') this.keepAlive = setInterval(() => {}, 1 << 30);
  }
}
