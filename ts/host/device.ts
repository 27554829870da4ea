/**
 * The transport host's view of one device (shared by every program the host
 * serves) and of one open handle (owned by one program).
 * @module
 */
import { parseConfiguration, type ParsedConfiguration } from '../usb/config-parse.js';
import type { DeviceStrings, RawDescriptors, TransportDevice } from '../transports/transport.js';
import type { AuditDevice } from './audit.js';
import { deviceFacts, type DeviceFacts } from '../usb/filters.js';
import type { InFlight, ProgramLink } from './program-link.js';

export class SharedDevice {
  /** Open handles, of every program. */
  readonly handles = new Set<OpenHandle>();
  /** Claimed interfaces and the handle that holds each. */
  readonly claims = new Map<number, OpenHandle>();
  readonly alternates = new Map<number, number>();
  /** Transfers in flight, of every program. */
  readonly inflight = new Set<InFlight>();
  readonly facts: DeviceFacts;
  openCount = 0;
  gone = false;
  private chain: Promise<unknown> = Promise.resolve();
  private parsed?: (ParsedConfiguration | undefined)[];

  constructor(
    readonly id: number,
    readonly td: TransportDevice,
    readonly descriptors: RawDescriptors,
    readonly strings: DeviceStrings,
    readonly record: Uint8Array,
  ) {
    this.facts = deviceFacts(descriptors.device, descriptors.configurations, strings.serialNumber);
  }

  /** Control-plane operations on one device run one at a time. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  /** The active configuration, parsed (undefined when unconfigured or unparsable). */
  activeConfig(): ParsedConfiguration | undefined {
    if (!this.parsed) {
      this.parsed = this.descriptors.configurations.map((c) => {
        try {
          return parseConfiguration(c);
        } catch {
          return undefined;
        }
      });
    }
    const value = this.td.getConfiguration();
    return value ? this.parsed.find((c) => c?.value === value) : undefined;
  }

  /** Who the device is, for audit events. */
  get audit(): AuditDevice {
    return {
      vendorId: this.facts.vendorId, productId: this.facts.productId,
      busNumber: this.td.location.busNumber, deviceAddress: this.td.location.deviceAddress,
      serialNumber: this.strings.serialNumber,
    };
  }
}

export class OpenHandle {
  readonly claimed = new Set<number>();
  /** Endpoints of the claimed interfaces (bit n: endpoint n), the host's own copy: never read back from the program. */
  inMask = 0;
  outMask = 0;
  /** Closed (by the program or a kill): every later operation fails. */
  closed = false;
  /** The program's grant for the device was revoked: it is gone for this handle. */
  revoked = false;
  constructor(readonly id: number, readonly dev: SharedDevice, readonly shared: number, readonly link: ProgramLink) {}
}
