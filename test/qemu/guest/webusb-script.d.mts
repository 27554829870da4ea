// Types of webusb-script.mjs (plain JavaScript, so that Chromium loads it as it is).

/** What moves the device: unplug it, plug it (back) in. */
export interface WebusbWorld {
  unplug(): Promise<unknown>;
  plug(): Promise<unknown>;
}

/** One step's outcome ({ step, ok } or { step, error: { name, message } }) or a connect/disconnect event. */
export type TranscriptEntry = Record<string, unknown>;

/** Run the script on an object of navigator.usb's shape; resolves with its transcript. */
export function webusbScript(usb: object, world: WebusbWorld): Promise<TranscriptEntry[]>;
