/**
 * `navigator.usb`'s shape over the `usb` package's native exports (its
 * `nativeGetDevices` and hotplug `Emitter`), with every asynchronous call
 * counted (./native-calls.ts).
 *
 * The package's own `WebUSB` class does the same, except that adding its
 * first event listener also starts a listing nobody can wait for: a worker
 * that exits before that listing ends can crash the process (see
 * ./native-calls.ts), and if the listing fails its rejection is unhandled.
 * All devices are allowed (a program sees what the OS lets it open).
 * @module
 */
import type { USBConnectionEventLike, USBLike } from '../webusb/types.js';
import type { UsbPackageDevice } from './binding.js';
import type { NativeCalls } from './native-calls.js';

/** The package's native exports this uses (`usb/index.js`, usb 3.x). */
export interface UsbNativeModule {
  nativeGetDevices(): Promise<UsbPackageDevice[]>;
  Emitter: new () => UsbNativeEmitter;
}

/** The package's hotplug watcher: one callback per kind. */
export interface UsbNativeEmitter {
  addAttach(callback: (device: UsbPackageDevice) => void): Promise<void>;
  removeAttach(): Promise<void>;
  addDetach(callback: (handle: string) => void): Promise<void>;
  removeDetach(): Promise<void>;
}

type Listener = (event: USBConnectionEventLike) => void;

export class NativeUsb implements USBLike {
  private readonly native: UsbNativeModule;
  private readonly calls: NativeCalls;
  private readonly log?: (message: string) => void;
  private readonly listeners = { connect: new Set<Listener>(), disconnect: new Set<Listener>() };
  /** Devices by handle, as last listed or attached: a detach event names only the handle. */
  private readonly known = new Map<string, UsbPackageDevice>();
  private emitter?: UsbNativeEmitter;
  /** Starting and stopping the watcher, in order. */
  private watcherChain: Promise<void> = Promise.resolve();

  constructor(native: UsbNativeModule, calls: NativeCalls, options: { log?: (message: string) => void } = {}) {
    this.native = native;
    this.calls = calls;
    this.log = options.log;
  }

  async getDevices(): Promise<UsbPackageDevice[]> {
    const devices = await this.calls.track(() => this.native.nativeGetDevices());
    for (const d of devices) this.known.set(d.handle, d);
    return devices;
  }

  addEventListener(type: 'connect' | 'disconnect', listener: Listener): void {
    const watching = this.watching();
    this.listeners[type]?.add(listener);
    if (!watching && this.watching()) this.onWatcher((e) => this.startWatcher(e));
  }

  removeEventListener(type: 'connect' | 'disconnect', listener: Listener): void {
    const watching = this.watching();
    this.listeners[type]?.delete(listener);
    if (watching && !this.watching()) this.onWatcher((e) => this.stopWatcher(e));
  }

  private watching(): boolean {
    return this.listeners.connect.size + this.listeners.disconnect.size > 0;
  }

  /** Queue a change of the watcher (they are calls into the binding: counted, in order). */
  private onWatcher(change: (emitter: UsbNativeEmitter) => Promise<void>): void {
    // counted from now, not from when its turn comes: closing must wait for it
    const run = this.calls.track(() => this.watcherChain.then(() => change(this.emitter ??= new this.native.Emitter())));
    this.watcherChain = run.catch((e) => this.log?.(`usb package hotplug watcher: ${e instanceof Error ? e.message : e}`));
  }

  private async startWatcher(emitter: UsbNativeEmitter): Promise<void> {
    await emitter.addAttach((device) => {
      this.known.set(device.handle, device);
      this.dispatch('connect', device);
    });
    await emitter.addDetach((handle) => {
      // the object listed for it (the one the transport knows), untouched: a
      // pending call on it makes reading its properties throw
      const device = this.known.get(handle);
      this.known.delete(handle);
      if (device) this.dispatch('disconnect', device);
    });
  }

  private async stopWatcher(emitter: UsbNativeEmitter): Promise<void> {
    await emitter.removeAttach();
    await emitter.removeDetach();
  }

  private dispatch(type: 'connect' | 'disconnect', device: UsbPackageDevice): void {
    for (const l of [...this.listeners[type]]) l({ device });
  }
}
