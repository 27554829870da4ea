/**
 * The transport host: carries out the requests of the programs it serves on
 * one {@link Transport}.
 *
 * One host serves many programs. What is per transport lives here: the
 * devices (enumeration, hotplug), which program holds which interface (on
 * the devices, see device.ts), and the audit trail. What is per program
 * lives in a {@link ProgramLink} (program-link.ts): its memory, contexts,
 * handles, transfers, policy and serving loop.
 *
 * The host runs on a thread of its own (a worker the embedder starts: see
 * ts/runner/), not in any program's worker, so killing a program cannot take
 * the devices down with it. It never calls into wasm: it reads and writes
 * each program's memory and uses Atomics, so it can live on any thread that
 * was handed the memory.
 * @module
 */
import { ErrorCode, TransferStatus } from '../usb/constants.js';
import type { TransportHotplugEvent, Transport, TransportDevice } from '../transports/transport.js';
import { auditOutcome, type AuditAction, type AuditDevice, type AuditEvent } from './audit.js';
import { SharedDevice } from './device.js';
import { enumerateDevice } from './enumerate.js';
import { ProgramLink, refuseProgram, type ProgramInfo } from './program-link.js';
import type { DeviceFilter } from '../usb/filters.js';
import { encodeDeviceRecord } from './device-record.js';

export type { ProgramInfo } from './program-link.js';

/** Options for {@link TransportHost}. */
export interface TransportHostOptions {
  /**
   * Spin this many microseconds for the next request before sleeping.
   * Default: adaptive (see ProgramLink.serve).
   */
  spinMicros?: number;
  /** Diagnostics (device enumeration failures, forged requests and the like). */
  log?: (message: string) => void;
  /** Every audited operation of every program (see audit.ts). */
  onAudit?: (event: AuditEvent) => void;
}

export class TransportHost {
  readonly transport: Transport;
  /** Every device present, by id (ids are never reused). */
  readonly devices = new Map<number, SharedDevice>();
  /** Handle ids are unique across programs: one program cannot name another's handle by accident. */
  nextHandleId = 1;
  /** Resolves when the first enumeration is done. */
  ready: Promise<void> = Promise.resolve();
  private readonly options: TransportHostOptions;
  private readonly links = new Map<string, ProgramLink>();
  private readonly byTransportDevice = new Map<TransportDevice, SharedDevice | 'pending' | 'gone'>();
  private nextDeviceId = 1;
  private started = false;
  private stopped = false;
  private keepAlive?: ReturnType<typeof setInterval>;
  private unwatch?: () => void;

  constructor(transport: Transport, options: TransportHostOptions = {}) {
    this.transport = transport;
    this.options = options;
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
    const link = new ProgramLink(this, memory, sharedPtr, info);
    const status = link.start(this.options.spinMicros);
    if (status === 0) this.links.set(info.id, link);
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
    await Promise.all(links.map((l) => l.released));
    this.unwatch?.();
    if (this.keepAlive) clearInterval(this.keepAlive);
    await this.transport.close?.();
  }

  /** How many libusb contexts have a thread blocked waiting for events (tests use it). */
  waitingContexts(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.waitingContexts();
    return n;
  }

  private link(programId: string): ProgramLink {
    const link = this.links.get(programId);
    if (!link) throw new Error(`no program ${programId} is attached to this host`);
    return link;
  }

  log(message: string): void {
    (this.options.log ?? ((m: string) => console.error(m)))(`libusb-wasm host: ${message}`);
  }

  /** Report an audited operation. */
  audit(program: string, action: AuditAction, target: { device?: AuditDevice; detail: string }, status: number): void {
    if (!this.options.onAudit) return;
    const event: AuditEvent = { time: Date.now(), program, device: target.device, action, detail: target.detail, outcome: auditOutcome(status) };
    try {
      this.options.onAudit(event);
    } catch (e) {
      this.log(`the audit callback threw: ${(e as Error)?.message ?? e}`);
    }
  }

  // ---- device discovery and hotplug ----------------------------------------

  private startWatching(): void {
    if (this.started) return;
    this.started = true;
    this.unwatch = this.transport.watch((e) => this.onHotplug(e));
    this.ready = this.initialEnumeration();
    if (typeof setInterval === 'function') {
      // Atomics.waitAsync alone does not keep a Node event loop alive
      this.keepAlive = setInterval(() => {}, 1 << 30);
    }
  }

  private async initialEnumeration(): Promise<void> {
    let list: TransportDevice[] = [];
    try {
      list = await this.transport.getDevices();
    } catch (e) {
      this.log(`listing devices failed: ${(e as Error)?.message ?? e}`);
    }
    await Promise.all(list.map((td) => this.addDevice(td)));
  }

  private onHotplug(event: TransportHotplugEvent): void {
    if (event.type === 'connect') void this.ready.then(() => this.addDevice(event.device));
    else this.removeDevice(event.device);
  }

  private async addDevice(td: TransportDevice): Promise<void> {
    if (this.byTransportDevice.has(td)) return;
    this.byTransportDevice.set(td, 'pending');
    let enumerated;
    try {
      enumerated = await enumerateDevice(td);
    } catch (e) {
      if (this.byTransportDevice.get(td) === 'pending') this.byTransportDevice.delete(td);
      this.log(`skipping device at bus ${td.location.busNumber} address ${td.location.deviceAddress}: ${(e as Error)?.message ?? e}`);
      return;
    }
    if (this.byTransportDevice.get(td) !== 'pending') return; // left while we read it
    const id = this.nextDeviceId++;
    const record = encodeDeviceRecord(id, td.location, enumerated.descriptors);
    const dev = new SharedDevice(id, td, enumerated.descriptors, enumerated.strings, record);
    this.devices.set(id, dev);
    this.byTransportDevice.set(td, dev);
    for (const link of this.links.values()) link.deviceArrived(dev);
  }

  private removeDevice(td: TransportDevice): void {
    const dev = this.byTransportDevice.get(td);
    this.byTransportDevice.set(td, 'gone');
    if (!(dev instanceof SharedDevice)) return;
    this.byTransportDevice.delete(td);
    dev.gone = true;
    this.devices.delete(dev.id);
    for (const h of dev.handles) h.link.handleGone(h);
    // end every transfer before libusb hears of the departure
    for (const rec of [...dev.inflight]) rec.link.finish(rec, { status: TransferStatus.NO_DEVICE });
    for (const link of this.links.values()) link.deviceLeft(dev);
  }

  /** The devices present, in bus and port order. */
  presentDevices(): SharedDevice[] {
    const list = [...this.devices.values()].filter((d) => !d.gone);
    const key = (d: SharedDevice) => [d.td.location.busNumber, d.td.location.portNumbers.length, ...d.td.location.portNumbers];
    return list.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
        if ((ka[i] ?? -1) !== (kb[i] ?? -1)) return (ka[i] ?? -1) - (kb[i] ?? -1);
      }
      return 0;
    });
  }
}
