/**
 * One program served by the transport host: the parts that serve it, put
 * together — its end of the shared memory (channel.ts), the devices it sees
 * (visibility.ts), its handles (handles.ts), transfers (transfers.ts) and
 * requests (requests.ts), and the loop that takes them (serve-loop.ts) —
 * and what the host asks of it: start, let go, grant, revoke, device news.
 * @module
 */
import { ErrorCode, TransferStatus } from '../../usb/constants.js';
import type { DeviceFilter } from '../../usb/filters.js';
import type { CaptureTap } from '../../usb/capture/tap.js';
import type { SharedDevice } from '../device.js';
import { ProgramMemory } from '../memory.js';
import { Policy, type PolicyOptions } from '../policy.js';
import { LW_HOST_ATTACHED, LW_MAGIC, LW_PROTOCOL_VERSION, LW_REQ_SIZE, LW_SHARED_SIZE, LwShared } from '../protocol.gen.js';
import type { HostServices } from '../services.js';
import { ProgramChannel, markHostGone } from './channel.js';
import { ProgramHandles } from './handles.js';
import { Requests } from './requests.js';
import { ServeLoop } from './serve-loop.js';
import { Transfers } from './transfers.js';
import { Visibility } from './visibility.js';

/** Who a program is, and what it may do. */
export interface ProgramInfo {
  /** Unique among the programs one host serves (RunningProgram.id). */
  id: string;
  /**
   * Its policy. Absent: the program is trusted and sees what the transport
   * sees, as a native libusb program does.
   */
  policy?: PolicyOptions;
}

/** How long letting a program go waits for its devices to be released before it returns (that goes on after). */
const DETACH_WAIT_MS = 40;

/** Tell a program the host will not serve it: its libusb_init fails at once, not after a timeout. */
export function refuseProgram(memory: WebAssembly.Memory, sharedPtr: number): void {
  markHostGone(memory, sharedPtr);
}

export class ProgramLink {
  readonly id: string;
  /** Resolves when a let-go program's interfaces are released and its devices closed at the transport. */
  released: Promise<void> = Promise.resolve();
  private readonly channel: ProgramChannel;
  private readonly visibility: Visibility;
  private readonly transfers: Transfers;
  private readonly handles: ProgramHandles;
  private readonly requests: Requests;
  private readonly loop: ServeLoop;
  private served: Promise<void> = Promise.resolve();

  constructor(host: HostServices, private readonly memory: WebAssembly.Memory, private readonly sharedPtr: number,
    info: ProgramInfo, spinMicros?: number, capture?: CaptureTap) {
    this.id = info.id;
    this.channel = new ProgramChannel(info.id, new ProgramMemory(memory), sharedPtr, host,
      info.policy ? new Policy(info.policy) : undefined, capture);
    this.visibility = new Visibility(this.channel);
    this.transfers = new Transfers(this.channel);
    this.handles = new ProgramHandles(this.channel, this.transfers);
    this.requests = new Requests(this.channel, this.visibility, this.handles, this.transfers);
    const requests = this.requests;
    const transfers = this.transfers;
    this.loop = new ServeLoop(this.channel, {
      dispatch: (ptr) => requests.dispatch(ptr),
      get pendingRequests() {
        return requests.pending;
      },
      get transfersInFlight() {
        return transfers.count;
      },
    }, spinMicros);
  }

  /** Check the shared block and start serving. Returns 0, or a libusb error (the program is then told GONE). */
  start(): number {
    const ch = this.channel;
    const m = ch.mem;
    if (!m.valid(this.sharedPtr, LW_SHARED_SIZE, 64)) {
      ch.log(`its shared block ${this.sharedPtr} is not inside its memory`);
      return ErrorCode.INVALID_PARAM;
    }
    const word = (offset: number) => m.u32[ch.sharedIndex(offset)];
    if (word(LwShared.magic) !== LW_MAGIC || word(LwShared.version) !== LW_PROTOCOL_VERSION || word(LwShared.req_size) !== LW_REQ_SIZE) {
      ch.log('it was built against a different libusb-wasm protocol version; rebuild it');
      markHostGone(this.memory, this.sharedPtr);
      return ErrorCode.NOT_SUPPORTED;
    }
    Atomics.store(m.u32, ch.sharedIndex(LwShared.limit_transfers), ch.policy?.maxTransfersInFlight ?? 0);
    Atomics.store(m.u32, ch.sharedIndex(LwShared.limit_bytes), ch.policy?.maxBytesInFlight ?? 0);
    ch.running = true;
    ch.setState(LW_HOST_ATTACHED);
    this.served = this.loop.run();
    return 0;
  }

  /**
   * Let the program go (it was killed, or it exited): its transfers end, its
   * claims are released and its handles closed, and its memory is never
   * touched again once this resolves.
   */
  async detach(): Promise<void> {
    const ch = this.channel;
    if (!ch.running) return;
    // transfers end first (a program still running sees them complete), then every request fails
    this.transfers.endAll(TransferStatus.NO_DEVICE);
    ch.flushWakes();
    ch.running = false;
    markHostGone(this.memory, this.sharedPtr);
    this.loop.interrupt();
    ch.contexts.clear();
    // Releasing and closing go through each device's queue of operations,
    // behind whatever the program started there. A device slow to answer
    // must not hold up a kill, so wait for that briefly only; `released`
    // says when it is done.
    this.released = this.handles.closeAll();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.released, new Promise((r) => (timer = setTimeout(r, DETACH_WAIT_MS)))]);
    clearTimeout(timer);
    await this.served;
  }

  /** How many of this program's contexts have a thread blocked waiting for events. */
  waitingContexts(): number {
    return this.channel.waitingContexts();
  }

  /** Grant more devices while the program runs: newly visible ones arrive as hotplug events. */
  grant(filter: DeviceFilter): void {
    this.visibility.grant(filter);
  }

  /**
   * Take a grant back: devices no longer visible leave (a hotplug event),
   * their transfers end with NO_DEVICE, their claims are released and their
   * handles answer NO_DEVICE from now on.
   */
  async revoke(filter: DeviceFilter): Promise<void> {
    const work: Promise<void>[] = [];
    for (const dev of this.visibility.revoke(filter)) {
      work.push(this.handles.revoke(dev));
      this.visibility.deviceLeft(dev);
    }
    await Promise.all(work);
  }

  /** A device arrived at the host. */
  deviceArrived(dev: SharedDevice): void {
    this.visibility.deviceArrived(dev);
  }

  /** A device left the host (its handles heard of it first, from the device). */
  deviceLeft(dev: SharedDevice): void {
    this.visibility.deviceLeft(dev);
  }
}
