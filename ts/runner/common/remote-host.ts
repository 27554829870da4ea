/**
 * The embedder's handle on a transport host running in a worker (Node or
 * browser): grants, revocations, kills, audit events, simulated devices.
 * createHost() in node.ts and browser.ts build one around their worker.
 * @module
 */
import * as Comlink from 'comlink';
import { AuditFeed, type AuditEvent } from '../../host/audit.js';
import { Policy, type PolicyOptions } from '../../host/policy.js';
import type { DeviceFilter } from '../../usb/filters.js';
import type { HostEvent, HostService } from './host-service.js';
import type { SimControl } from '../../sim/control.js';

/** A program, by its id or as the object runProgram() returned. */
export type ProgramRef = string | {
  /** The program's id (RunningProgram.id). */
  readonly id: string;
};

/** A transport host in a worker of its own, serving any number of programs. */
export interface ProgramHost {
  /** Remote control of the simulated devices (sim transports): plug, unplug, inspect, list. */
  readonly sim: Comlink.Remote<SimControl>;
  /**
   * Audit events of every program on this host, from now on, as an async
   * iterator (break out of the loop to stop listening).
   */
  audit(): AsyncIterable<AuditEvent>;
  /** Let a running program see more devices: the newly visible ones arrive as hotplug events. */
  grant(program: ProgramRef, filter: DeviceFilter): Promise<void>;
  /**
   * Take a grant back (a filter equal to one granted): the devices it
   * covered leave the program, their transfers end with NO_DEVICE and their
   * interfaces are released.
   */
  revoke(program: ProgramRef, filter: DeviceFilter): Promise<void>;
  /** Stop serving a program (its interfaces are released, its devices closed). False if it was not attached. */
  detach(program: ProgramRef): Promise<boolean>;
  /** Ids of the programs attached now. */
  programs(): Promise<string[]>;
  /** Look again at the devices the transport reaches (webusb: after requestDevice()). */
  rescan(): Promise<void>;
  /** Libusb contexts with a thread blocked waiting for events, over every program. */
  waitingContexts(): Promise<number>;
  /**
   * The host's capture so far as a pcapng Blob, when it records in memory
   * (`capture: true` or options without a file); undefined otherwise.
   */
  capture(): Promise<Blob | undefined>;
  /** The host worker's clock (performance.now() there): resolves only if the worker answers. */
  ping(): Promise<number>;
  /** Stop serving every program, release the transport and end the worker. */
  close(): Promise<void>;
}

export interface RemoteHostOptions {
  /** Diagnostics from the host (forged requests, enumeration failures). Default: console.error. */
  log?: (line: string) => void;
  /** Every audit event of every program on this host. */
  onAudit?: (event: AuditEvent) => void;
}

const idOf = (p: ProgramRef) => (typeof p === 'string' ? p : p.id);

/** What runProgram() hears about its program from the host. */
export interface ProgramListeners {
  /** The host's diagnostics about the program. */
  log?: (line: string) => void;
  /** The program's audit events. */
  audit?: (e: AuditEvent) => void;
  /** The host would not serve the program (a libusb error). */
  refused?: (status: number) => void;
  /** The host's worker ended while the program was connected. */
  ended?: (why: string) => void;
}

/** The runner's side of a host: ProgramHost plus what runProgram() needs. */
export class RemoteHost implements ProgramHost {
  readonly sim: Comlink.Remote<SimControl>;
  private readonly remote: Comlink.Remote<HostService>;
  private readonly end: () => void | Promise<void>;
  private readonly options: RemoteHostOptions;
  private readonly feeds = new Set<AuditFeed>();
  private readonly perProgram = new Map<string, ProgramListeners>();
  /** Why the host's worker ended, once it has. */
  private endedWhy?: string;
  private closed?: Promise<void>;
  /** Rejects once the host's worker is gone: no call to it waits forever. */
  private readonly gone: Promise<never>;
  private markGone!: (e: Error) => void;
  /** Why the host's transport could not be built (said once, on the host's log), or undefined. */
  startFailure?: string;

  constructor(remote: Comlink.Remote<HostService>, end: () => void | Promise<void>, options: RemoteHostOptions = {}) {
    this.remote = remote;
    this.sim = remote.sim as unknown as Comlink.Remote<SimControl>;
    this.end = end;
    this.options = options;
    this.gone = new Promise<never>((_, reject) => (this.markGone = reject));
    this.gone.catch(() => {});
    // the first call answers once the transport is built: a failure to build it is said now, once, with its cause
    this.call(remote.ping()).catch((e) => {
      if (this.endedWhy || this.closed) return; // the worker ended or was closed: said where that is seen
      this.startFailure = e?.message ?? String(e);
      (this.options.log ?? ((s: string) => console.error(s)))(`libusb-wasm: the transport host could not start: ${this.startFailure}`);
    });
  }

  /**
   * The host's worker ended (closed, or crashed; `why` says which): calls
   * fail from now on, and every program still connected hears of it.
   */
  workerEnded(why = 'its worker ended'): void {
    if (this.endedWhy) return;
    this.endedWhy = why;
    this.markGone(new Error(`the transport host has ended (${why})`));
    for (const listeners of this.perProgram.values()) listeners.ended?.(why);
  }

  /** Why the host's worker ended, or undefined while it runs. */
  get ended(): string | undefined {
    return this.endedWhy;
  }

  private call<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.gone]);
  }

  /** A message from the host's worker (its events port). */
  onEvent(m: HostEvent): void {
    if (m.t === 'log') {
      const mine = m.program ? this.perProgram.get(m.program)?.log : undefined;
      (mine ?? this.options.log ?? ((s: string) => console.error(s)))(m.s);
    } else if (m.t === 'audit') {
      this.options.onAudit?.(m.e);
      this.perProgram.get(m.e.program)?.audit?.(m.e);
      for (const f of this.feeds) f.push(m.e);
    } else if (m.t === 'refused') {
      this.perProgram.get(m.program)?.refused?.(m.status);
    }
  }

  audit(): AsyncIterable<AuditEvent> {
    const feed = new AuditFeed();
    this.feeds.add(feed);
    const iterate = feed[Symbol.asyncIterator].bind(feed);
    return {
      [Symbol.asyncIterator]: () => {
        const it = iterate();
        return {
          next: () => it.next(),
          return: () => {
            this.feeds.delete(feed);
            return it.return!();
          },
        };
      },
    };
  }

  /**
   * Connect a program (runProgram does it): the program's worker attaches
   * through the other end of `port`. Throws for a bad policy.
   */
  async connect(port: object, id: string, policy: PolicyOptions | undefined, listeners: ProgramListeners): Promise<void> {
    if (policy) new Policy(policy); // a bad filter fails here, in the caller's words
    this.perProgram.set(id, listeners);
    // comlink proxies top-level arguments only: the callback travels on its own
    const { confirmOpen, ...rest } = policy ?? {};
    await this.call(this.remote.connect(Comlink.transfer(port, [port as Transferable]), id, policy ? rest : undefined,
      confirmOpen ? Comlink.proxy(confirmOpen) : undefined));
  }

  /** The program ended: forget its listeners. */
  forget(id: string): void {
    this.perProgram.delete(id);
  }

  grant(program: ProgramRef, filter: DeviceFilter): Promise<void> {
    return this.call(this.remote.grant(idOf(program), filter));
  }

  revoke(program: ProgramRef, filter: DeviceFilter): Promise<void> {
    return this.call(this.remote.revoke(idOf(program), filter));
  }

  detach(program: ProgramRef): Promise<boolean> {
    return this.call(this.remote.detach(idOf(program))).catch(() => false);
  }

  programs(): Promise<string[]> {
    return this.call(this.remote.programs());
  }

  rescan(): Promise<void> {
    return this.call(this.remote.rescan());
  }

  waitingContexts(): Promise<number> {
    return this.call(this.remote.waitingContexts());
  }

  /** SimDevice.inspect() of every simulated device. */
  snapshot(): Promise<unknown[]> {
    return this.call(this.remote.snapshot());
  }

  capture(): Promise<Blob | undefined> {
    return this.call(this.remote.capture());
  }

  ping(): Promise<number> {
    return this.call(this.remote.ping());
  }

  /** close() was called: the worker's end is no surprise. */
  get closing(): boolean {
    return this.closed !== undefined;
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.call(this.remote.stop()).catch(() => {});
      for (const f of this.feeds) f.end();
      await this.end();
      this.workerEnded();
    })();
    return this.closed;
  }
}
