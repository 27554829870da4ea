/**
 * One program's open device handles, and what the devices tell it about
 * them (the program's {@link HandleOwner}): usable endpoints to publish, a
 * device gone, whether its policy lets it hold an interface.
 * @module
 */
import { ErrorCode, TransferStatus } from '../../usb/constants.js';
import { TransportError } from '../../transports/transport.js';
import type { HandleOwner, OpenHandle, SharedDevice } from '../device.js';
import type { ProgramChannel } from './channel.js';
import type { Transfers } from './transfers.js';

export class ProgramHandles implements HandleOwner {
  private readonly byId = new Map<number, OpenHandle>();

  constructor(private readonly channel: ProgramChannel, private readonly transfers: Transfers) {}

  /** A handle by id, or undefined. */
  get(id: number): OpenHandle | undefined {
    return this.byId.get(id);
  }

  /** A handle that can be used now: NOT_FOUND for no such handle, NO_DEVICE when closed or gone. */
  usable(id: number): OpenHandle {
    const h = this.byId.get(id);
    if (!h) throw new TransportError(ErrorCode.NOT_FOUND, `no handle ${id}`);
    if (h.closed || !this.channel.running || h.device.gone || h.revoked) throw new TransportError(ErrorCode.NO_DEVICE);
    return h;
  }

  /** Open a handle on a device; its block in the program's memory is at `sharedBlock`. */
  async open(dev: SharedDevice, sharedBlock: number): Promise<OpenHandle> {
    if (!this.channel.running) throw new TransportError(ErrorCode.NO_DEVICE);
    const h = await dev.open(this, this.channel.host.newHandleId(), sharedBlock);
    this.byId.set(h.id, h);
    if (!this.channel.running) { // let go while the transport opened it
      await this.close(h);
      throw new TransportError(ErrorCode.NO_DEVICE);
    }
    if (dev.transportDevice.supportsIsochronous === false) this.channel.writeNoIsochronous(h);
    this.channel.writeEndpoints(h);
    return h;
  }

  /** Close a handle: libusb dropped its transfers; its interfaces are released. */
  async close(h: OpenHandle): Promise<void> {
    if (!this.byId.delete(h.id)) return;
    this.transfers.dropAll(h);
    await h.device.close(h);
  }

  /** The program's grant for a device was taken back: its handles on it are gone for it. */
  async revoke(dev: SharedDevice): Promise<void> {
    const work: Promise<void>[] = [];
    for (const h of this.byId.values()) {
      if (h.device !== dev || h.revoked) continue;
      h.revoked = true;
      this.channel.writeHandleGone(h);
      this.transfers.endAll(TransferStatus.NO_DEVICE, h);
      work.push(dev.releaseAll(h).catch(() => {}));
    }
    await Promise.all(work);
  }

  /** Close every handle (the program is let go). Resolves when the devices are released. */
  closeAll(): Promise<void> {
    return Promise.all([...this.byId.values()].map((h) => this.close(h).catch(() => {}))).then(() => {});
  }

  // ---- HandleOwner: what the devices tell this program ----------------------------------

  endpointsChanged(h: OpenHandle): void {
    this.channel.writeEndpoints(h);
  }

  deviceGone(h: OpenHandle): void {
    this.channel.writeHandleGone(h);
    this.transfers.endAll(TransferStatus.NO_DEVICE, h);
  }

  mayHold(device: SharedDevice, configuration: number, iface: number): boolean {
    const policy = this.channel.policy;
    return !policy || policy.claimable(device.facts, configuration, iface);
  }

  log(message: string): void {
    this.channel.log(message);
  }
}
