// One script of plain WebUSB calls (no libusb), run against Chromium's own
// navigator.usb with the real Gadget Zero (GADGET_ZERO in gadget.mjs, in the
// QEMU guest) and against SimUSB with the equivalent simulated model
// (test/qemu/gadget-zero-model.ts). The test compares the two transcripts
// entry by entry: values, statuses, error names and messages, and the order
// in which promises settle and connect/disconnect events fire.
//
//   const transcript = await webusbScript(navigator.usb, world);
//
// `world` moves the device: { unplug(): Promise, plug(): Promise } (the
// gadget unbound from / bound to its UDC; the model unplugged from / a fresh
// one plugged into the bus). The device must be plugged in, in its first
// configuration, and not open anywhere when the script starts.
//
// Plain JavaScript with no imports: Chromium loads it from the guest's web
// server, Node from the file.

const VENDOR_ID = 0x1209;
const PRODUCT_ID = 0x000a;
/** SourceSink's pattern, and what its sink wants: (i % 512) % 63. */
const sourceBytes = (n) => Uint8Array.from({ length: n }, (_, i) => (i % 512) % 63);
/** How long to wait for something the device or the platform should do by itself. */
const SETTLE_MS = 20_000;

export async function webusbScript(usb, world) {
  const transcript = [];
  const record = (step, outcome) => transcript.push({ step, ...outcome });
  /** Run a call; record what it resolved with (described) or the exception's name and message. */
  const step = async (name, fn) => {
    try {
      const value = await fn();
      record(name, { ok: describe(value) });
      return value;
    } catch (e) {
      record(name, { error: errorOf(e) });
      return undefined;
    }
  };
  /** Start a call without waiting; its settlement is recorded when it happens. */
  const background = (name, promise) => promise.then(
    (v) => record(name, { ok: describe(v) }),
    (e) => record(name, { error: errorOf(e) }),
  );

  let device;
  const events = [];
  const onEvent = (e) => {
    if (e.device.vendorId !== VENDOR_ID || e.device.productId !== PRODUCT_ID) return;
    events.push(e.type);
    transcript.push({ event: e.type, sameDevice: e.device === device, opened: e.device.opened });
  };
  usb.addEventListener('connect', onEvent);
  usb.addEventListener('disconnect', onEvent);
  const ours = async () => (await usb.getDevices()).filter((d) => d.vendorId === VENDOR_ID && d.productId === PRODUCT_ID);

  try {
    const found = await ours();
    record('getDevices', { ok: found.map(deviceFacts) });
    device = found[0];
    if (!device) return transcript;
    const d = device;

    // ---- before open -----------------------------------------------------------
    await step('claimInterface(0) before open', () => d.claimInterface(0));
    await step('transferIn(1) before open', () => d.transferIn(1, 64));
    await step('controlTransferIn before open', () => d.controlTransferIn(setup('standard', 'device', 6, 0x0100, 0), 18));
    await step('open', () => d.open());
    record('opened', { ok: d.opened });
    await step('open again', () => d.open());
    await step('selectConfiguration(3)', () => d.selectConfiguration(3));
    await step('claimInterface(5)', () => d.claimInterface(5));
    await step('transferIn(1) unclaimed', () => d.transferIn(1, 64));
    await step('claimInterface(0)', () => d.claimInterface(0));
    await step('claimInterface(0) again', () => d.claimInterface(0));
    record('state after claim', { ok: stateOf(d) });

    // ---- control transfers (configuration 1: SourceSink) ---------------------------
    await step('GET_DESCRIPTOR(device) 64', () => d.controlTransferIn(setup('standard', 'device', 6, 0x0100, 0), 64));
    const config = await step('GET_DESCRIPTOR(configuration 0) 255', () => d.controlTransferIn(setup('standard', 'device', 6, 0x0200, 0), 255));
    await step('GET_DESCRIPTOR(string 0)', () => d.controlTransferIn(setup('standard', 'device', 6, 0x0300, 0), 255));
    if (config?.data) record('strings of configuration 0', { ok: await stringsOf(d, bytes(config.data)) });
    await step('GET_DESCRIPTOR(string 99)', () => d.controlTransferIn(setup('standard', 'device', 6, 0x0363, 0x0409), 255));
    await step('GET_STATUS(device)', () => d.controlTransferIn(setup('standard', 'device', 0, 0, 0), 2));
    await step('GET_STATUS(interface 0)', () => d.controlTransferIn(setup('standard', 'interface', 0, 0, 0), 2));
    await step('GET_STATUS(interface 3)', () => d.controlTransferIn(setup('standard', 'interface', 0, 0, 3), 2));
    await step('GET_STATUS(endpoint 0x81)', () => d.controlTransferIn(setup('standard', 'endpoint', 0, 0, 0x81), 2));
    await step('GET_STATUS(endpoint 0)', () => d.controlTransferIn(setup('standard', 'endpoint', 0, 0, 0), 2));
    await step('GET_STATUS(endpoint 0x83)', () => d.controlTransferIn(setup('standard', 'endpoint', 0, 0, 0x83), 2));
    await step('GET_CONFIGURATION', () => d.controlTransferIn(setup('standard', 'device', 8, 0, 0), 1));
    await step('GET_INTERFACE(0)', () => d.controlTransferIn(setup('standard', 'interface', 10, 0, 0), 1));
    await step('vendor 0x5b OUT 64 bytes', () => d.controlTransferOut(setup('vendor', 'device', 0x5b, 0, 0), pattern(64, 1)));
    await step('vendor 0x5c IN 64', () => d.controlTransferIn(setup('vendor', 'device', 0x5c, 0, 0), 64));
    await step('vendor 0x5d IN (unknown)', () => d.controlTransferIn(setup('vendor', 'device', 0x5d, 0, 0), 64));
    await step('vendor 0x5b OUT 5000 bytes (too long)', () => d.controlTransferOut(setup('vendor', 'device', 0x5b, 0, 0), pattern(5000, 2)));
    await step('class OUT to interface 0', () => d.controlTransferOut(setup('class', 'interface', 0x01, 0, 0), new Uint8Array(4)));
    await step('standard IN request 0x1f', () => d.controlTransferIn(setup('standard', 'device', 0x1f, 0, 0), 8));
    await step('SET_FEATURE(ENDPOINT_HALT) 0x81', () => d.controlTransferOut(setup('standard', 'endpoint', 3, 0, 0x81)));
    await step('CLEAR_FEATURE(ENDPOINT_HALT) 0x81', () => d.controlTransferOut(setup('standard', 'endpoint', 1, 0, 0x81)));
    await step('SET_INTERFACE(0, 0)', () => d.controlTransferOut(setup('standard', 'interface', 11, 0, 0)));
    await step('SET_CONFIGURATION(1)', () => d.controlTransferOut(setup('standard', 'device', 9, 1, 0)));
    await step('SET_FEATURE(DEVICE_REMOTE_WAKEUP)', () => d.controlTransferOut(setup('standard', 'device', 3, 1, 0)));

    // ---- bulk: source and sink -----------------------------------------------------
    await step('transferIn(1, 512) source', () => d.transferIn(1, 512));
    await step('transferIn(1, 1024) source', () => d.transferIn(1, 1024));
    await step('transferIn(1, 100) source: babble', () => d.transferIn(1, 100));
    await step('transferOut(2, 4096) sink', () => d.transferOut(2, sourceBytes(4096)));
    await step('transferOut(2, 100 wrong bytes) sink', () => d.transferOut(2, new Uint8Array(100).fill(0xaa)));
    await step('transferOut(2, 4096) halted sink', () => d.transferOut(2, sourceBytes(4096)));
    await step('GET_STATUS(endpoint 0x02) halted', () => d.controlTransferIn(setup('standard', 'endpoint', 0, 0, 0x02), 2));
    await step('clearHalt(out, 2)', () => d.clearHalt('out', 2));
    await step('GET_STATUS(endpoint 0x02) cleared', () => d.controlTransferIn(setup('standard', 'endpoint', 0, 0, 0x02), 2));
    await step('transferOut(2, 4096) after clearHalt', () => d.transferOut(2, sourceBytes(4096)));
    await step('clearHalt(in, 1) not halted', () => d.clearHalt('in', 1));
    await step('clearHalt(in, 2) no such endpoint', () => d.clearHalt('in', 2));
    await step('transferOut(1) on an IN endpoint', () => d.transferOut(1, new Uint8Array(4)));
    await step('transferIn(2) on an OUT endpoint', () => d.transferIn(2, 64));
    await step('transferIn(16)', () => d.transferIn(16, 64));
    await step('transferIn(0)', () => d.transferIn(0, 64));
    await step('transferOut(2) of a SharedArrayBuffer view', () => d.transferOut(2, new Uint8Array(new SharedArrayBuffer(8))));
    await step('selectAlternateInterface(0, 1)', () => d.selectAlternateInterface(0, 1));
    await step('selectAlternateInterface(0, 0)', () => d.selectAlternateInterface(0, 0));
    await step('selectConfiguration(2) while claimed', () => d.selectConfiguration(2));
    record('state after selectConfiguration(2) while claimed', { ok: stateOf(d) });

    // ---- configuration 2: Loopback -------------------------------------------------
    await step('releaseInterface(0)', () => d.releaseInterface(0));
    await step('releaseInterface(0) again', () => d.releaseInterface(0));
    await step('selectConfiguration(2)', () => d.selectConfiguration(2));
    record('state in configuration 2', { ok: stateOf(d) });
    await step('transferIn(1) after selectConfiguration, unclaimed', () => d.transferIn(1, 64));
    await step('claimInterface(0) in configuration 2', () => d.claimInterface(0));
    await step('transferOut(2, 513) loopback', () => d.transferOut(2, pattern(513, 3)));
    await step('transferIn(1, 513) loopback', () => d.transferIn(1, 513));
    await step('transferOut(2, 512) loopback', () => d.transferOut(2, pattern(512, 4)));
    await step('transferIn(1, 100) loopback: babble', () => d.transferIn(1, 100));
    await step('transferOut(2, 0) loopback: zero-length packet', () => d.transferOut(2, new Uint8Array(0)));
    await step('transferIn(1, 64) loopback: zero-length packet', () => d.transferIn(1, 64));
    await step('transferOut(2, 1000) loopback', () => d.transferOut(2, pattern(1000, 5)));
    await step('transferIn(1, 4096) loopback: short packet ends it', () => d.transferIn(1, 4096));

    // a pending transferIn while the interface's state changes under it
    for (const [what, change, after] of [
      ['selectAlternateInterface(0, 0)', () => d.selectAlternateInterface(0, 0), null],
      ['releaseInterface(0)', () => d.releaseInterface(0), () => d.claimInterface(0)],
      ['reset()', () => d.reset(), null],
      ['close()', () => d.close(), async () => { await d.open(); await d.claimInterface(0); }],
    ]) {
      const pending = background(`pending transferIn(1) during ${what}`, d.transferIn(1, 64));
      await delay(300); // the transfer reaches the device
      await step(what, change);
      await within(pending, SETTLE_MS);
      if (after) await step(`after ${what}: restore`, after);
      record(`state after ${what}`, { ok: stateOf(d) });
      await step(`round trip after ${what}`, async () => {
        await d.transferOut(2, pattern(20, 6));
        return d.transferIn(1, 64);
      });
    }

    // ---- the device goes away with a transfer pending, and comes back ---------------
    const pending = background('pending transferIn(1) during unplug', d.transferIn(1, 64));
    await delay(300);
    await world.unplug();
    await within(pending, SETTLE_MS);
    await waitFor(() => events.includes('disconnect'), SETTLE_MS);
    record('after unplug', { ok: { opened: d.opened, devices: (await ours()).length } });
    await step('transferIn(1) after unplug', () => d.transferIn(1, 64));
    await step('controlTransferIn after unplug', () => d.controlTransferIn(setup('standard', 'device', 0, 0, 0), 2));
    await step('claimInterface(0) after unplug', () => d.claimInterface(0));
    await step('close() after unplug', () => d.close());
    await step('open() after unplug', () => d.open());
    await world.plug();
    await waitFor(() => events.includes('connect'), SETTLE_MS);
    const again = await ours();
    record('after plug', { ok: { devices: again.length, same: again[0] === d, facts: again[0] && deviceFacts(again[0]) } });
    return transcript;
  } finally {
    usb.removeEventListener('connect', onEvent);
    usb.removeEventListener('disconnect', onEvent);
  }
}

function setup(requestType, recipient, request, value, index) {
  return { requestType, recipient, request, value, index };
}

function pattern(n, seed) {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

function bytes(view) {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function hex(view) {
  return Array.from(bytes(view), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Result objects and plain values as JSON-able facts. */
function describe(v) {
  if (v === undefined || v === null) return v ?? null;
  if (typeof v !== 'object') return v;
  if ('status' in v) {
    const out = { status: v.status };
    if ('bytesWritten' in v) out.bytesWritten = v.bytesWritten;
    if ('data' in v) out.data = v.data ? hex(v.data) : null;
    if ('packets' in v) out.packets = v.packets.map(describe);
    return out;
  }
  return String(v);
}

function errorOf(e) {
  return { name: e?.name ?? typeof e, message: String(e?.message ?? e) };
}

function stateOf(d) {
  return {
    opened: d.opened,
    configuration: d.configuration?.configurationValue ?? null,
    interfaces: (d.configuration?.interfaces ?? []).map((i) => ({ number: i.interfaceNumber, claimed: i.claimed, alternate: i.alternate.alternateSetting })),
  };
}

/** What WebUSB says about a device, before it is opened. */
function deviceFacts(d) {
  return {
    usbVersion: [d.usbVersionMajor, d.usbVersionMinor, d.usbVersionSubminor],
    class: [d.deviceClass, d.deviceSubclass, d.deviceProtocol],
    id: [d.vendorId, d.productId],
    deviceVersion: [d.deviceVersionMajor, d.deviceVersionMinor, d.deviceVersionSubminor],
    strings: [d.manufacturerName, d.productName, d.serialNumber],
    opened: d.opened,
    configuration: d.configuration?.configurationValue ?? null,
    configurations: d.configurations.map((c) => ({
      value: c.configurationValue,
      name: c.configurationName,
      interfaces: c.interfaces.map((i) => ({
        number: i.interfaceNumber,
        claimed: i.claimed,
        alternate: i.alternate.alternateSetting,
        alternates: i.alternates.map((a) => ({
          setting: a.alternateSetting,
          class: [a.interfaceClass, a.interfaceSubclass, a.interfaceProtocol],
          name: a.interfaceName,
          endpoints: a.endpoints.map((e) => `${e.endpointNumber} ${e.direction} ${e.type} ${e.packetSize}`),
        })),
      })),
    })),
  };
}

/**
 * A raw configuration descriptor with its string indexes resolved (string
 * indexes are the device's own choice; what they name is what matters).
 */
async function stringsOf(d, raw) {
  const out = [];
  const string = async (i) => {
    if (!i) return null;
    const r = await d.controlTransferIn(setup('standard', 'device', 6, 0x0300 | i, 0x0409), 255);
    const b = bytes(r.data);
    return String.fromCharCode(...Array.from({ length: (b[0] - 2) / 2 }, (_, k) => b[2 + 2 * k] | (b[3 + 2 * k] << 8)));
  };
  for (let off = 0; off + 2 <= raw.length && raw[off] >= 2; off += raw[off]) {
    const type = raw[off + 1];
    if (type === 2) out.push(`configuration ${raw[off + 5]}: ${await string(raw[off + 6])}`);
    if (type === 4) out.push(`interface ${raw[off + 2]}/${raw[off + 3]}: ${await string(raw[off + 8])}`);
  }
  return out;
}

function delay(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wait for a promise, at most `ms` (it was recorded as it settled, or is missing from the transcript). */
function within(promise, ms) {
  return Promise.race([promise, delay(ms)]);
}

async function waitFor(check, ms) {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await delay(20);
}
