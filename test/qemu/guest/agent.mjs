// The test agent inside the QEMU guest. It serves the host's test library
// (test/qemu/qemu.ts) over a virtio-serial port: one JSON object per line.
//
//   host -> guest  {"id":1,"op":"exec","argv":["lsusb","-v"],"cwd":"/x","env":{},"timeoutMs":60000}
//   guest -> host  {"id":1,"code":0,"signal":null,"stdout":"...","stderr":"...","ms":812,"timedOut":false}
//   host -> guest  {"id":2,"op":"call","module":"/x/scenarios.mjs","fn":"name","args":[...]}
//   guest -> host  {"id":2,"value":...} or {"id":2,"error":"..."}
//   guest -> host  {"ready":true,"uptime":7.9}               once, when it starts
//
// "call" runs a function of a guest-side module in this process: no Node
// start-up per test (it costs seconds under emulation).
//
// usage (from the guest's init): node agent.mjs /dev/vportNpM
import fs from 'node:fs';
import { spawn } from 'node:child_process';

const port = process.argv[2];
const fd = fs.openSync(port, 'r+');
const MAX_OUTPUT = 16 << 20;

function send(message) {
  const bytes = Buffer.from(JSON.stringify(message) + '\n');
  for (let off = 0; off < bytes.length;) {
    try {
      off += fs.writeSync(fd, bytes, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

function exec(request) {
  const started = performance.now();
  const child = spawn(request.argv[0], request.argv.slice(1), {
    cwd: request.cwd ?? process.cwd(),
    env: { ...process.env, ...(request.env ?? {}) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out = [];
  const err = [];
  let outBytes = 0;
  const collect = (list) => (chunk) => {
    if (outBytes < MAX_OUTPUT) list.push(chunk);
    outBytes += chunk.length;
  };
  child.stdout.on('data', collect(out));
  child.stderr.on('data', collect(err));
  child.stdin.on('error', () => {});
  child.stdin.end(request.stdin ?? '');
  let timedOut = false;
  const timer = request.timeoutMs ? setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, request.timeoutMs) : undefined;
  const reply = (code, signal, error) => {
    clearTimeout(timer);
    send({
      id: request.id, code, signal, timedOut, error,
      stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(),
      ms: Math.round(performance.now() - started),
    });
  };
  child.on('error', (e) => reply(null, null, String(e.message)));
  child.on('close', (code, signal) => reply(code, signal));
}

async function call(request) {
  try {
    const module = await import(request.module);
    if (typeof module[request.fn] !== 'function') throw new Error(`${request.module} has no function ${request.fn}`);
    send({ id: request.id, value: (await module[request.fn](...(request.args ?? []))) ?? null });
  } catch (e) {
    send({ id: request.id, error: String(e?.stack ?? e) });
  }
}

function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    send({ error: `bad request: ${line.slice(0, 200)}` });
    return;
  }
  if (request.op === 'exec') exec(request);
  else if (request.op === 'call') call(request);
  else if (request.op === 'ping') send({ id: request.id, pong: true });
  else send({ id: request.id, error: `unknown op ${request.op}` });
}

let pending = '';
const input = fs.createReadStream(port, { fd, autoClose: false, highWaterMark: 1 << 16 });
input.on('data', (chunk) => {
  pending += chunk.toString();
  let nl;
  while ((nl = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (line.trim()) handle(line);
  }
});
input.on('error', (e) => {
  process.stderr.write(`agent: reading ${port} failed: ${e.message}\n`);
  process.exit(1);
});

send({ ready: true, uptime: Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) });
