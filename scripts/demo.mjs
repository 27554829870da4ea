// `make demo`: libusb's own example programs, compiled unmodified, running
// in worker threads against simulated devices.
import { runProgram } from '../dist/node.js';

const runs = [
  { title: 'listdevs: every device on the simulated bus', program: 'build/examples/listdevs.js', devices: ['loopback', 'msc', 'fx2'] },
  { title: 'xusb 1209:0002: the mass-storage device (INQUIRY, capacity, first block)', program: 'build/examples/xusb.js', args: ['1209:0002'], devices: ['msc'] },
  { title: 'xusb -i 1209:0001: the loopback device', program: 'build/examples/xusb.js', args: ['-i', '1209:0001'], devices: ['loopback'] },
];

for (const r of runs) {
  console.log(`\n\x1b[1m=== ${r.title}\x1b[0m\n$ libusb-wasm run --devices ${r.devices.join(',')} ${r.program} ${(r.args ?? []).join(' ')}\n`);
  const p = runProgram({ program: r.program, args: r.args, devices: r.devices });
  const code = await p.exited;
  console.log(`\x1b[2m[exit status ${code}]\x1b[0m`);
  if (code !== 0) process.exitCode = 1;
}
console.log('\nThe same programs in a browser, on simulated or real USB devices: make serve, then open http://localhost:8080/');
