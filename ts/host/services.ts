/**
 * What the transport host provides to the code that serves one program
 * (program/*.ts): its devices, its diagnostics and audit trail, and handle
 * ids that are unique across programs. An interface, so that the per-program
 * code never reaches into the host (or another program) itself.
 * @module
 */
import type { AuditAction, AuditDevice } from './audit.js';
import type { DeviceRegistry } from './devices.js';

export interface HostServices {
  /** The devices present. */
  readonly devices: DeviceRegistry;
  /** How long one call into the transport may take (ms). */
  readonly callTimeoutMs: number;
  /** One diagnostic line. */
  log(message: string): void;
  /** Report an audited operation of a program. */
  audit(program: string, action: AuditAction, target: { device?: AuditDevice; detail: string }, status: number): void;
  /** A handle id no other handle of this host has. */
  newHandleId(): number;
}
