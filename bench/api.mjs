// What the typed JS API costs per transfer, measured from Node's main
// thread against the simulated loopback device (no USB time at all, so
// this is pure overhead), next to the same exchange from C inside the
// worker. Run on demand: `node bench/api.mjs` after a build.
//
//   sequential   await each transfer: one OUT, one IN, repeat
//   pipelined    keep `depth` transfers in flight
import { createContext } from '../dist/api.js';
import { runProgram } from '../dist/node.js';

const N = Number(process.env.N ?? 3000);

async function sequential(h, size) {
  const data = new Uint8Array(size);
  for (let warm = 0; warm < 2; warm++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      await h.bulkTransfer(0x01, data);
      await h.bulkTransfer(0x81, size);
    }
    if (warm) return ((performance.now() - t0) * 1000) / (2 * N);
  }
}

async function pipelined(h, size, depth) {
  const data = new Uint8Array(size);
  let t0 = 0;
  for (let warm = 0; warm < 2; warm++) {
    t0 = performance.now();
    let issued = 0;
    const worker = async () => {
      while (issued < N) {
        issued++;
        await Promise.all([h.bulkTransfer(0x01, data), h.bulkTransfer(0x81, size)]);
      }
    };
    await Promise.all(Array.from({ length: depth }, worker));
  }
  const ms = performance.now() - t0;
  return { usPerTransfer: (ms * 1000) / (2 * N), mbPerSecond: (2 * N * size) / (ms * 1000) };
}

async function baseline(size) {
  let line = '';
  const p = runProgram({ program: new URL('../build/bench/api_baseline.js', import.meta.url).pathname,
    args: [String(N), String(size)], devices: ['loopback'], stdout: (s) => (line += s) });
  if ((await p.exited) !== 0) throw new Error(`api_baseline failed: ${line}`);
  return Number(/us_per_transfer ([\d.]+)/.exec(line)[1]);
}

const usb = await createContext({ devices: ['loopback'] });
const [device] = await usb.getDeviceList();
const h = await device.open();
await h.claimInterface(0);
// the parts of a round trip: comlink alone, then one command through the shim
async function perCall(fn) {
  for (let i = 0; i < 200; i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn();
  return ((performance.now() - t0) * 1000) / N;
}
const ping = await perCall(() => usb.link.api.ping());
const command = await perCall(() => h.getConfiguration());
console.log(`comlink round trip to the worker: ${ping.toFixed(1)} us; one libusb call through the shim ` +
  `(libusb_get_configuration, which asks the transport host): ${command.toFixed(1)} us`);
const rows = [];
for (const size of [64, 4096, 65536]) {
  const seq = await sequential(h, size);
  const pipe = await pipelined(h, size, 16);
  const c = await baseline(size);
  rows.push({ bytes: size, 'C sync (us)': c.toFixed(1), 'API sequential (us)': seq.toFixed(1),
    'API 16 in flight (us)': pipe.usPerTransfer.toFixed(1), 'API 16 in flight (MB/s)': pipe.mbPerSecond.toFixed(1) });
}
await h.close();
await usb.exit();
console.log(`per transfer, ${N} OUT+IN pairs each, loopback (simulated), Node ${process.version}`);
console.table(rows);
