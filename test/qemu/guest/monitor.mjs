// QEMU's monitor (QMP), reached from inside the test guest through its
// second serial port: the host joins the guest's ttyS1 to QEMU's monitor
// (see test/qemu/qemu.ts). Guest code adds and removes USB devices and types
// keys with it while a program runs.
//
//   import { qmp } from './monitor.mjs';
//   await qmp('device_del', { id: 'stick' });
//   await qmp('device_add', { driver: 'usb-kbd', bus: 'xhci.0', id: 'kbd2' });
//   await qmp('send-key', { keys: [{ type: 'qcode', data: 'a' }] });
//   await qmp('human-monitor-command', { 'command-line': 'info usb' });
//
// CLI: node monitor.mjs COMMAND [JSON-ARGUMENTS]   (prints the result as JSON)
//
// One caller at a time: the tty is one channel.
import fs from 'node:fs';
import tty from 'node:tty';

const DEVICE = process.env.LW_MONITOR_TTY ?? '/dev/ttyS1';
let nextId = 1;

/**
 * Run one QMP command; resolves with its `return`, rejects with its error.
 * `waitEvent` also waits for an event of that name (e.g. DEVICE_DELETED).
 */
export async function qmp(command, args, { timeoutMs = 20_000, waitEvent } = {}) {
  const fd = fs.openSync(DEVICE, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  const input = new tty.ReadStream(fd);
  input.setRawMode(true);
  let buffered = '';
  const lines = [];
  let wake;
  input.setEncoding('utf8');
  input.on('data', (s) => {
    buffered += s;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, nl).trim());
      buffered = buffered.slice(nl + 1);
    }
    wake?.();
  });
  const deadline = Date.now() + timeoutMs;
  const nextMessage = async () => {
    for (;;) {
      while (lines.length) {
        const line = lines.shift();
        if (!line.startsWith('{')) continue;
        try {
          return JSON.parse(line);
        } catch {
          continue; // a partial line left from before we opened the port
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`QMP ${command}: no answer within ${timeoutMs} ms`);
      await new Promise((resolve) => {
        wake = resolve;
        setTimeout(resolve, Math.min(left, 200));
      });
      wake = undefined;
    }
  };
  const send = (message) => fs.writeSync(fd, JSON.stringify(message) + '\r\n');
  const call = async (execute, argumentsObject) => {
    const id = `lw-${process.pid}-${nextId++}`;
    send(argumentsObject ? { execute, arguments: argumentsObject, id } : { execute, id });
    for (;;) {
      const m = await nextMessage();
      if (m.event && m.event === waitEvent) seenEvents.push(m);
      if (m.id !== id) continue;
      if (m.error) {
        const e = new Error(`QMP ${execute}: ${m.error.class}: ${m.error.desc}`);
        e.qmpClass = m.error.class;
        throw e;
      }
      return m.return;
    }
  };
  const seenEvents = [];
  try {
    // 0xFF resets QMP's JSON parser, whatever half-line came before us (the
    // kernel tty may have echoed the greeting back before echo was off)
    fs.writeSync(fd, Buffer.from([0xff, 0x0d, 0x0a]));
    // Negotiation happens once per QEMU run; a second time it is an error we ignore.
    await call('qmp_capabilities').catch((e) => {
      if (e.qmpClass !== 'CommandNotFound') throw e;
    });
    const result = await call(command, args);
    if (waitEvent) {
      while (!seenEvents.length) {
        const m = await nextMessage();
        if (m.event === waitEvent) seenEvents.push(m);
      }
    }
    return result;
  } finally {
    input.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [command, json] = process.argv.slice(2);
  qmp(command, json ? JSON.parse(json) : undefined).then(
    (r) => {
      process.stdout.write(JSON.stringify(r ?? null) + '\n');
      process.exit(0);
    },
    (e) => {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    },
  );
}
