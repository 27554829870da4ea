/**
 * The demo page: pick one of libusb's own example programs (or your own,
 * from disk or a URL) and a device source, run it in a worker, watch its
 * output live. Everything it does goes through the public page API
 * (ts/runner/browser/); the simulated models are listed from the registry.
 */
import {
  crossOriginIsolationProblem, requestDevice, runProgram, type BrowserRunningProgram, type ProgramFiles,
} from '../ts/runner/browser/index.js';
import { createDevice, modelNames } from '../ts/sim/models/index.js';

interface Preset {
  label: string;
  program: string;
  args: string;
  /** simulated devices to tick */
  devices: string[];
  /** the mass-storage example: Chrome would refuse its interface class */
  allowProtected?: boolean;
  /** files the program reads: path inside the program -> URL next to this page */
  files?: Record<string, string>;
}

const PRESETS: Record<string, Preset> = {
  listdevs: { label: 'listdevs: list the devices', program: 'listdevs', args: '', devices: modelNames() },
  testlibusb: { label: 'testlibusb -v: dump every descriptor', program: 'testlibusb', args: '-v', devices: ['loopback'] },
  'xusb-msc': {
    label: 'xusb 1209:0002: read a mass-storage disk', program: 'xusb', args: '1209:0002', devices: ['mass-storage'], allowProtected: true,
  },
  'xusb-loopback': { label: 'xusb -i 1209:0001: probe the loopback device', program: 'xusb', args: '-i 1209:0001', devices: ['loopback'] },
  fxload: {
    label: 'fxload: load firmware into an FX2LP', program: 'fxload', args: '-v -t fx2lp -i /firmware/fx2-blink.hex', devices: ['fx2'],
    files: { '/firmware/fx2-blink.hex': 'firmware/fx2-blink.hex' },
  },
  hotplugtest: { label: 'hotplugtest: wait for a plug and an unplug', program: 'hotplugtest', args: '', devices: [] },
};
const PROGRAMS = '../build/examples/';
/** The Program list's entry for a program of the user's own. */
const OWN = 'own';

/** Block 0 of the simulated disk, so xusb's hex dump has something to show. */
function diskImage(): Uint8Array {
  const text = 'Hello from a simulated USB disk. This block was read by libusb\'s own xusb example, '
    + 'compiled to WebAssembly, through the webusb transport.';
  const image = new Uint8Array(512);
  image.set(new TextEncoder().encode(text));
  image.set([0x55, 0xaa], 510);
  return image;
}

/** The simulated device specs for the ticked boxes. */
function simDevices(names: string[]) {
  return names.map((name) => (name === 'mass-storage' ? { model: name, options: { image: diskImage() } } : name));
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const presetSelect = $<HTMLSelectElement>('preset');
const argsInput = $<HTMLInputElement>('args');
const runButton = $<HTMLButtonElement>('run');
const stopButton = $<HTMLButtonElement>('stop');
const terminal = $<HTMLPreElement>('terminal');
const status = $<HTMLSpanElement>('status');
const hotplug = $<HTMLFieldSetElement>('hotplug');
const unplugWhich = $<HTMLSelectElement>('unplug-which');
const protectedBox = $<HTMLInputElement>('protected');
const captureBox = $<HTMLInputElement>('capture');
const downloadButton = $<HTMLButtonElement>('download-capture');
const ownProgram = $<HTMLFieldSetElement>('own-program');
const programFiles = $<HTMLInputElement>('program-files');
const programUrl = $<HTMLInputElement>('program-url');

let current: BrowserRunningProgram | undefined;
let last: BrowserRunningProgram | undefined;
let currentSource: 'sim' | 'webusb' = 'sim';
let ticks = 0;
/** The last program's capture, and the file name to save it under. */
let captured: { blob: Blob; name: string } | undefined;

// The page's own heartbeat: it keeps counting while the C program blocks.
setInterval(() => {
  ticks++;
  $('ticks').textContent = String(ticks);
}, 100);

// Every registered device model, labelled with what it says about itself.
for (const name of modelNames()) {
  const label = `${name} (${createDevice(name).label})`;
  const box = Object.assign(document.createElement('input'), { type: 'checkbox', name: 'device', value: name });
  const line = document.createElement('label');
  line.append(box, ` ${label}`);
  $('models').append(line);
  $<HTMLSelectElement>('plug-model').add(new Option(label, name));
}

for (const [id, p] of Object.entries(PRESETS)) presetSelect.add(new Option(p.label, id));
presetSelect.add(new Option('Your own program…', OWN));
presetSelect.addEventListener('change', applyPreset);
applyPreset();

const problem = crossOriginIsolationProblem();
if (problem) {
  $('isolation').hidden = false;
  $('isolation').textContent = `This page cannot run programs: ${problem}`;
  runButton.disabled = true;
}

function applyPreset(): void {
  ownProgram.hidden = presetSelect.value !== OWN;
  const p = PRESETS[presetSelect.value];
  if (!p) {
    argsInput.value = '';
    return;
  }
  argsInput.value = p.args;
  for (const box of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=device]'))) box.checked = p.devices.includes(box.value);
  protectedBox.checked = !p.allowProtected;
}

function source(): 'sim' | 'webusb' {
  return document.querySelector<HTMLInputElement>('input[name=source]:checked')!.value as 'sim' | 'webusb';
}

function print(text: string, cls?: string): void {
  const atBottom = terminal.scrollTop + terminal.clientHeight >= terminal.scrollHeight - 4;
  if (cls) {
    const span = document.createElement('span');
    span.className = cls;
    span.textContent = text + '\n';
    terminal.append(span);
  } else {
    terminal.append(text + '\n');
  }
  if (atBottom) terminal.scrollTop = terminal.scrollHeight;
}

function setStatus(text: string, cls = ''): void {
  status.textContent = text;
  status.className = cls;
}

/** Split an argument line the way a shell would for simple cases (quotes, no escapes). */
function splitArgs(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/**
 * The user's own program: the files picked (the .wasm, the .worker.js, and
 * the .js: any other name, as emcc may write `prog` without extension), else the URL.
 */
function ownProgramChoice(): { program: string | ProgramFiles; name: string } {
  const picked = Array.from(programFiles.files ?? []);
  if (picked.length) {
    const wasm = picked.filter((f) => f.name.endsWith('.wasm'));
    const workerJs = picked.filter((f) => f.name.endsWith('.worker.js'));
    const js = picked.filter((f) => !wasm.includes(f) && !workerJs.includes(f));
    if (js.length !== 1 || wasm.length !== 1 || workerJs.length > 1) {
      throw new Error(`pick one program's files: its .js and .wasm, and its .worker.js if emcc wrote one (picked: ${picked.map((f) => f.name).join(', ')})`);
    }
    return { program: { js: js[0], wasm: wasm[0], workerJs: workerJs[0] }, name: js[0].name };
  }
  const url = programUrl.value.trim();
  if (!url) throw new Error("pick your program's files, or give the URL of its .js");
  return { program: url, name: url.split('/').pop() || url };
}

/** What to run: a preset, or the user's own program. */
function programChoice(): { program: string | ProgramFiles; name: string; preset?: Preset } {
  const preset = PRESETS[presetSelect.value];
  if (!preset) return ownProgramChoice();
  return { program: PROGRAMS + preset.program + '.js', name: preset.program, preset };
}

async function run(): Promise<void> {
  const args = splitArgs(argsInput.value);
  currentSource = source();
  const devices = Array.from(document.querySelectorAll<HTMLInputElement>('input[name=device]:checked')).map((b) => b.value);
  terminal.textContent = '';
  let choice: ReturnType<typeof programChoice>;
  try {
    choice = programChoice();
  } catch (e) {
    $('command').textContent = '';
    print(String((e as Error).message), 'err');
    setStatus('could not start', 'fail');
    return;
  }
  const { preset } = choice;
  $('command').textContent = `$ ${choice.name} ${args.join(' ')}`;
  setStatus('starting…');
  runButton.disabled = true;
  stopButton.disabled = false;
  downloadButton.disabled = true;
  captured = undefined;

  const files: Record<string, Uint8Array> = {};
  for (const [path, url] of Object.entries(preset?.files ?? {})) {
    files[path] = new Uint8Array(await (await fetch(url)).arrayBuffer());
  }
  const t0 = performance.now();
  let p: BrowserRunningProgram;
  try {
    p = runProgram({
      program: choice.program,
      args,
      files,
      transport: 'webusb', // simulated devices behind navigator.usb's shape, or the browser's own
      devices: currentSource === 'sim' ? simDevices(devices) : undefined,
      protectedClasses: protectedBox.checked ? undefined : [],
      capture: captureBox.checked ? true : undefined,
      stdout: (s) => print(s),
      stderr: (s) => print(s, 'err'),
    });
  } catch (e) {
    print(String((e as Error).message), 'err');
    setStatus('could not start', 'fail');
    runButton.disabled = false;
    stopButton.disabled = true;
    return;
  }
  current = p;
  last = p;
  hotplug.disabled = currentSource !== 'sim';
  void p.started.then(() => setStatus('running…'), () => {});
  if (currentSource === 'sim') void refreshPlugged();
  const code = await p.exited;
  const ms = Math.round(performance.now() - t0);
  if (current === p) current = undefined;
  setStatus(`exited with status ${code} (${ms} ms)`, code === 0 ? 'ok' : 'fail');
  if (preset?.allowProtected && currentSource === 'sim' && protectedBox.checked) {
    print('note: Chrome refuses to claim mass-storage interfaces (a protected class); untick the box to let xusb read the disk.', 'note');
  }
  runButton.disabled = false;
  stopButton.disabled = true;
  hotplug.disabled = true;
  unplugWhich.replaceChildren();
  const blob = await p.capture;
  if (blob) {
    captured = { blob, name: `${choice.name.replace(/\.js$/, '')}.pcapng` };
    downloadButton.disabled = false;
  }
}

async function refreshPlugged(): Promise<void> {
  const p = current;
  if (!p || currentSource !== 'sim') return;
  const list = await p.sim.list().catch(() => []);
  unplugWhich.replaceChildren(...list.filter((d) => d.plugged).map((d) => new Option(d.label, String(d.index))));
}

async function listGranted(): Promise<void> {
  const usb = (navigator as Navigator & { usb?: { getDevices(): Promise<{ productName?: string; vendorId: number; productId: number }[]> } }).usb;
  if (!usb) {
    $('granted').replaceChildren(Object.assign(document.createElement('li'), { textContent: 'WebUSB is not available in this browser' }));
    ($('grant') as HTMLButtonElement).disabled = true;
    return;
  }
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  const devices = await usb.getDevices();
  $('granted').replaceChildren(...devices.map((d) => Object.assign(document.createElement('li'), {
    textContent: `${hex(d.vendorId)}:${hex(d.productId)} ${d.productName ?? ''}`,
  })));
}

runButton.addEventListener('click', () => void run());
downloadButton.addEventListener('click', () => {
  if (!captured) return;
  const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(captured.blob), download: captured.name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
});
stopButton.addEventListener('click', () => current?.kill());
$('grant').addEventListener('click', async () => {
  try {
    await requestDevice([]); // needs this click: WebUSB asks for a user gesture
  } catch (e) {
    if ((e as Error).name !== 'NotFoundError') print(String((e as Error).message), 'err');
    return;
  }
  await listGranted();
  if (current && currentSource === 'webusb') await current.rescan();
});
$('plug').addEventListener('click', async () => {
  await current?.sim.plug(($('plug-model') as HTMLSelectElement).value);
  await refreshPlugged();
});
$('unplug').addEventListener('click', async () => {
  if (!unplugWhich.value) return;
  await current?.sim.unplug(Number(unplugWhich.value));
  await refreshPlugged();
});
void listGranted();

// For scripted use (and the browser tests): the running and the last program, the heartbeat.
Object.assign(window, {
  libusbDemo: {
    get running() {
      return current;
    },
    get last() {
      return last;
    },
    get ticks() {
      return ticks;
    },
  },
});
