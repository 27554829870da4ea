/**
 * The transport host's worker, the part that is the same in Node and in
 * browsers: one TransportHost serving every program the embedder connects,
 * remote-controlled through comlink (control plane only: the data plane is
 * each program's shared memory).
 *
 * A program is connected with a MessagePort: its worker posts
 * `{ t: 'attach', memory, ptr }` on it when libusb_init runs
 * (wasm/js/library_libusb_wasm.js through hostConnection() below), and the
 * host attaches to that memory. Audit events and log lines go back to the
 * embedder on the events port as plain messages.
 * @module
 */
import type { AuditEvent } from '../../host/audit.js';
import { TransportHost } from '../../host/host.js';
import { Policy, type PolicyOptions } from '../../host/policy.js';
import type { DeviceFilter } from '../../usb/filters.js';
import type { Transport } from '../../transports/transport.js';
import type { SimControl } from '../../sim/control.js';
import type { HostCapture } from './capture.js';
import type { BuiltTransport } from './transports.js';

/** Messages from the host's worker to the embedder, on the events port. */
export type HostEvent =
  | { t: 'log'; s: string; program?: string }
  | { t: 'audit'; e: AuditEvent }
  /** The host would not serve a program (its libusb_init fails): `status` is the libusb error. */
  | { t: 'refused'; program: string; status: number };

/** What a program's worker posts on its port to the host. */
export interface AttachMessage {
  t: 'attach';
  memory: WebAssembly.Memory;
  ptr: number;
}

/** The bits of a MessagePort used here (Node's and the browser's). */
interface PortLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  start?(): void;
  close(): void;
  on?(event: 'close', listener: () => void): void;
}

/** Where events go: a MessagePort, Node's or the browser's. */
interface EventSink {
  postMessage(message: unknown): void;
}

/** What the embedder can ask of the host (through comlink). */
export class HostService {
  /** Remote control of the simulated devices (sim transports only). */
  readonly sim?: SimControl;
  private readonly host: TransportHost;
  private readonly transport: Transport;
  private readonly events: EventSink;
  private readonly ports = new Map<string, PortLike>();
  private readonly recording?: HostCapture;

  constructor(transport: Transport, options: { sim?: SimControl; spinMicros?: number; callTimeoutMs?: number; events: EventSink; capture?: HostCapture }) {
    this.transport = transport;
    this.sim = options.sim;
    this.events = options.events;
    this.recording = options.capture;
    this.host = new TransportHost(transport, {
      capture: options.capture?.recorder,
      spinMicros: options.spinMicros,
      callTimeoutMs: options.callTimeoutMs,
      log: (s) => this.events.postMessage({ t: 'log', s } satisfies HostEvent),
      onAudit: (e) => this.events.postMessage({ t: 'audit', e } satisfies HostEvent),
    });
    options.sim?.setHost(this.host);
  }

  /**
   * Serve a program: its worker will post its memory on `port`. The policy
   * is checked now (a bad filter throws here, not in the program);
   * `confirmOpen`, when given, is the policy's callback (a comlink proxy to
   * the embedder's: comlink proxies top-level arguments only).
   */
  connect(link: object, id: string, policyOptions?: PolicyOptions, confirmOpen?: PolicyOptions['confirmOpen']): void {
    const port = link as PortLike;
    const policy = policyOptions && confirmOpen ? { ...policyOptions, confirmOpen } : policyOptions;
    if (policy) new Policy(policy); // throws on a bad filter
    if (this.ports.has(id)) throw new Error(`a program with id ${id} is connected already`);
    this.ports.set(id, port);
    port.addEventListener('message', (e) => {
      const m = e.data as AttachMessage;
      if (m?.t !== 'attach' || !(m.memory instanceof WebAssembly.Memory) || typeof m.ptr !== 'number') return;
      const status = this.host.attach(m.memory, m.ptr, { id, policy });
      if (status !== 0) {
        this.log(`program ${id} could not attach (libusb error ${status})`, id);
        this.events.postMessage({ t: 'refused', program: id, status } satisfies HostEvent);
      }
    });
    port.start?.();
    // Node: the program's worker ended without a word (terminated, crashed)
    port.on?.('close', () => void this.detach(id));
  }

  /** Stop serving a program: transfers end, interfaces are released, handles closed. */
  async detach(id: string): Promise<boolean> {
    const port = this.ports.get(id);
    this.ports.delete(id);
    port?.close();
    const detached = await this.host.detach(id);
    // the program's records reach the file before runProgram()'s `exited` resolves, also on a shared host
    this.recording?.flush();
    return detached;
  }

  /** Let a program see more devices (they arrive as hotplug events). */
  grant(id: string, filter: DeviceFilter): void {
    this.host.grant(id, filter);
  }

  /** Take a grant back (see TransportHost.revoke). */
  revoke(id: string, filter: DeviceFilter): Promise<void> {
    return this.host.revoke(id, filter);
  }

  /** Ids of the programs attached now. */
  programs(): string[] {
    return this.host.programs();
  }

  /** Look again at the devices the transport may reach (webusb: after requestDevice() on the page). */
  async rescan(): Promise<void> {
    await (this.transport as Transport & { rescan?: () => Promise<void> }).rescan?.();
  }

  /** Libusb contexts with a thread blocked waiting for events, over every program. */
  waitingContexts(): number {
    return this.host.waitingContexts();
  }

  /** SimDevice.inspect() of every simulated device (empty on other transports). */
  snapshot(): unknown[] {
    try {
      return this.sim?.list().map((d) => this.sim!.inspect(d.index)) ?? [];
    } catch {
      return [];
    }
  }

  /** The capture so far, as a Blob (an in-memory capture; undefined when there is none or it goes to a file). */
  capture(): Blob | undefined {
    return this.recording?.snapshot();
  }

  /** The host worker's clock: an embedder can check that the worker answers. */
  ping(): number {
    return performance.now();
  }

  /** Stop serving everyone and release the transport. */
  async stop(): Promise<void> {
    for (const id of [...this.ports.keys()]) await this.detach(id);
    await this.host.stop();
    await this.recording?.finish();
  }

  private log(s: string, program?: string): void {
    this.events.postMessage({ t: 'log', s, program } satisfies HostEvent);
  }
}

/**
 * Start a host's service: the capture first (a file that cannot be written
 * fails before any device is touched), then the transport. A capture left
 * open by a failure is finished.
 */
export async function startService(build: () => Promise<BuiltTransport>, startCapture: () => HostCapture | undefined,
  options: { spinMicros?: number; callTimeoutMs?: number; events: EventSink }): Promise<HostService> {
  const capture = startCapture();
  try {
    const { transport, sim } = await build();
    return new HostService(transport, { ...options, sim, capture });
  } catch (e) {
    await capture?.finish();
    throw e;
  }
}

/**
 * The service to expose before it exists (its transport is still being
 * built): every call waits for it, and a failure to start reaches every
 * caller. comlink reaches nested objects by path, so `sim.plug(...)` works
 * through the same wait.
 */
export function deferredService(service: Promise<HostService>): Record<string, unknown> {
  service.catch(() => {});
  const call = (name: keyof HostService) => async (...args: unknown[]) => {
    const s = (await service) as unknown as Record<string, (...a: unknown[]) => unknown>;
    return s[name](...args);
  };
  const methods: (keyof HostService)[] = ['connect', 'detach', 'grant', 'revoke', 'programs', 'rescan', 'waitingContexts', 'snapshot', 'capture', 'ping', 'stop'];
  const api: Record<string, unknown> = Object.fromEntries(methods.map((m) => [m, call(m)]));
  api.sim = new Proxy({}, {
    get: (_, name) => async (...args: unknown[]) => {
      const sim = (await service).sim as unknown as Record<string | symbol, (...a: unknown[]) => unknown> | undefined;
      if (!sim) throw new Error('this host has no simulated devices (transport sim, or webusb with devices)');
      return sim[name](...args);
    },
  });
  return api;
}
