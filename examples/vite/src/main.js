// Two ways to use libusb-wasm from a Vite page, both in Web Workers:
// - run a C program (src/list-devices.c, compiled into public/ by
//   `npm run program`) against simulated devices, and, on a click, against
//   the USB devices you grant the page (WebUSB);
// - the typed JS API: libusb's calls as promises.
import { createContext } from 'libusb-wasm';
import { crossOriginIsolationProblem, requestDevice, runProgram } from 'libusb-wasm/browser';

const out = document.querySelector('#out');
const print = (line) => {
  out.textContent += `${line}\n`;
};

/** Run list-devices and print its exit status. */
async function listDevices(devices) {
  const program = runProgram({
    program: `${import.meta.env.BASE_URL}list-devices.js`, // in public/, its .wasm and .worker.js next to it
    transport: 'webusb',
    devices, // simulated devices behind navigator.usb's shape; undefined: the browser's own
    stdout: print,
    stderr: print,
  });
  print(`exit status ${await program.exited}`);
}

/** Send bytes to the simulated loopback device and read them back. */
async function echo(text) {
  const usb = await createContext({ devices: ['loopback'] });
  try {
    const [device] = await usb.getDeviceList();
    const handle = await device.open();
    await handle.claimInterface(0);
    await handle.bulkTransfer(0x01, new TextEncoder().encode(text));
    const { data } = await handle.bulkTransfer(0x81, 64, { timeout: 1000 });
    await handle.close();
    return `${device.product} echoed "${new TextDecoder().decode(data)}"`;
  } finally {
    await usb.exit();
  }
}

document.querySelector('#mine').addEventListener('click', async () => {
  try {
    await requestDevice([]); // WebUSB asks the user, so this needs the click
  } catch (e) {
    print(e.message);
    return;
  }
  print('$ list-devices   (your devices)');
  await listDevices(undefined);
});

const problem = crossOriginIsolationProblem();
try {
  if (problem) throw new Error(problem);
  print('$ list-devices   (simulated: loopback, hid)');
  await listDevices(['loopback', 'hid']);
  print(`typed API: ${await echo('hello from Vite')}`);
} catch (e) {
  print(`failed: ${e.message}`);
} finally {
  document.body.dataset.done = 'true';
}
