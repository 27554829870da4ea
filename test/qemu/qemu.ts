/**
 * Real-kernel test guests: boots Debian's kernel under QEMU (software
 * emulation, no KVM needed) with QEMU's emulated USB devices on an xHCI
 * controller, and runs commands inside it through the guest agent.
 *
 * The guest sees the host's root file system read-only (virtio-9p), so it
 * runs this project's dist/ and build/ with the host's own Node. Its second
 * serial port (/dev/ttyS1) is QEMU's monitor (QMP), so code in the guest can
 * add and remove devices itself (see guest/monitor.mjs).
 *
 * Prepare first with test/qemu/prepare.sh (bootGuest() runs it when the
 * cache is missing).
 * @module
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PROJECT = path.resolve(HERE, '../..');
export const CACHE = process.env.LIBUSB_WASM_QEMU_CACHE ?? path.join(PROJECT, 'build/qemu');

/** A USB device on the guest's xHCI controller: a QEMU `-device` (bus is added). */
export interface UsbDeviceSpec {
  /** QEMU device id, used with device_del. */
  id: string;
  /** e.g. 'usb-kbd', 'usb-storage,drive=stick', 'usb-serial,chardev=ser0' */
  device: string;
}

export interface GuestOptions {
  /** USB devices plugged at boot (default: {@link defaultDevices}). */
  devices?: UsbDeviceSpec[];
  /** Extra QEMU arguments (drives, chardevs the devices refer to). */
  qemuArgs?: string[];
  /** Guest memory in MiB (default 2048). */
  memoryMiB?: number;
  /** Virtual CPUs (default 2). */
  cpus?: number;
  /** How long booting may take before it is an error (default 120 s). */
  bootTimeoutMs?: number;
  /** A network for the guest (default: none). See {@link GuestNetwork}. */
  network?: GuestNetwork;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/**
 * The guest's network: QEMU's user networking with `restrict=on` (the
 * guest reaches nothing outside QEMU), a virtio-net card the guest sets up
 * as 10.0.2.15/24, and exactly the paths a test opens:
 * - `hostForwards`: connections to 127.0.0.1:hostPort on the host reach the
 *   guest's guestPort (QEMU's hostfwd; QEMU listens on 127.0.0.1 only);
 * - `guestForwards`: the guest's connections to guestAddress:guestPort
 *   (in 10.0.2.0/24, e.g. 10.0.2.100) reach 127.0.0.1:hostPort on the host.
 *   Each connection gets its own (QEMU starts guestfwd-relay.mjs for it):
 *   QEMU's `guestfwd=...-tcp:host:port` form would put every guest
 *   connection on one host connection, opened once at start.
 */
export interface GuestNetwork {
  hostForwards?: { hostPort: number; guestPort: number }[];
  guestForwards?: { guestAddress: string; guestPort: number; hostPort: number }[];
}

/** The guest's address on its network. */
export const GUEST_ADDRESS = '10.0.2.15';

/** QEMU arguments for a {@link GuestNetwork}. */
function networkArgs(n: GuestNetwork | undefined): string[] {
  if (!n) return [];
  const relay = path.join(HERE, 'guestfwd-relay.mjs');
  const rules = [
    ...(n.hostForwards ?? []).map((f) => `hostfwd=tcp:127.0.0.1:${f.hostPort}-${GUEST_ADDRESS}:${f.guestPort}`),
    ...(n.guestForwards ?? []).map((f) => `guestfwd=tcp:${f.guestAddress}:${f.guestPort}-cmd:${process.execPath} --no-warnings ${relay} 127.0.0.1 ${f.hostPort}`),
  ];
  if (rules.some((r) => r.includes(','))) throw new Error(`a path with a comma cannot go into QEMU's -netdev option: ${rules.join(' ')}`);
  return ['-netdev', ['user', 'id=net0', 'restrict=on', 'net=10.0.2.0/24', ...rules].join(','), '-device', 'virtio-net-pci,netdev=net0'];
}

/** A free TCP port on 127.0.0.1 (for a hostfwd: QEMU listens on it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
  error?: string;
}

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
}

/** Run test/qemu/prepare.sh unless the cache is complete. */
export function prepare(log: (line: string) => void = (l) => process.stderr.write(l + '\n')): void {
  const ready = ['vmlinux', 'initramfs.cpio', 'kernel-version'].every((f) => fs.existsSync(path.join(CACHE, f)))
    && fs.statSync(path.join(CACHE, 'initramfs.cpio')).mtimeMs >= fs.statSync(path.join(HERE, 'guest/init.sh')).mtimeMs;
  if (ready && hasQemu()) return;
  log('preparing the QEMU test guest (test/qemu/prepare.sh)...');
  execFileSync('bash', [path.join(HERE, 'prepare.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** How QEMU runs the guest: 'kvm' where the machine can, 'tcg' (software emulation) otherwise. */
export type Accel = 'kvm' | 'tcg';

let accelChosen: { accel: Accel; why: string } | undefined;

/**
 * Whether KVM can run a guest here, found out by trying: /dev/kvm can exist
 * and still fail once a vCPU starts (a nested hypervisor that refuses an
 * MSR: "failed to set MSR 0x10a", and QEMU aborts), and `-accel kvm -accel
 * tcg` does not fall back then, because KVM initialised fine. The probe
 * starts a bare machine with the guest's CPU model, lets it run and quits
 * (tens of milliseconds). LIBUSB_WASM_QEMU_NO_KVM=1 skips KVM.
 */
export function chooseAccel(): { accel: Accel; why: string } {
  if (accelChosen) return accelChosen;
  if (process.env.LIBUSB_WASM_QEMU_NO_KVM) return (accelChosen = { accel: 'tcg', why: 'LIBUSB_WASM_QEMU_NO_KVM is set' });
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return (accelChosen = { accel: 'tcg', why: 'no usable /dev/kvm' });
  }
  const r = spawnSync('qemu-system-x86_64', ['-machine', 'pc', '-accel', 'kvm', '-cpu', 'max', '-m', '64', '-nodefaults',
    '-display', 'none', '-no-reboot', '-S', '-qmp', 'stdio'], {
    input: '{"execute":"qmp_capabilities"}\n{"execute":"cont"}\n{"execute":"quit"}\n', encoding: 'utf8', timeout: 20_000,
  });
  if (r.status === 0 && r.stdout.includes('RESUME')) return (accelChosen = { accel: 'kvm', why: '/dev/kvm runs a guest' });
  const reason = (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim().split('\n')[0];
  return (accelChosen = { accel: 'tcg', why: `/dev/kvm exists but cannot run a guest (${reason})` });
}

function hasQemu(): boolean {
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A disk image with known contents: block i (512 bytes) starts with
 * "LWBLK" and i as a 32-bit little-endian number, then bytes (i*7 + j) & 0xff.
 * Nothing in it looks like a partition table (byte 510/511 of block 0 are
 * overwritten with zeros).
 */
export function makeDiskImage(file: string, blocks: number): Uint8Array {
  const image = new Uint8Array(blocks * 512);
  for (let i = 0; i < blocks; i++) {
    const b = image.subarray(i * 512, (i + 1) * 512);
    for (let j = 0; j < 512; j++) b[j] = (i * 7 + j) & 0xff;
    b.set([0x4c, 0x57, 0x42, 0x4c, 0x4b], 0);
    new DataView(b.buffer, b.byteOffset).setUint32(5, i, true);
  }
  image[510] = 0;
  image[511] = 0;
  fs.writeFileSync(file, image);
  return image;
}

/** The block `i` of an image made by {@link makeDiskImage}. */
export function imageBlock(image: Uint8Array, i: number): Uint8Array {
  return image.subarray(i * 512, (i + 1) * 512);
}

export class Guest {
  /** Host directory shared read-write with the guest at the same path. */
  readonly runDir: string;
  /** Milliseconds from starting QEMU to the agent's first message. */
  bootMs = 0;
  /** Guest uptime (s) when the agent started. */
  guestUptime = 0;
  private qemu?: ChildProcess;
  private agent?: net.Socket;
  private nextId = 1;
  private readonly waiting = new Map<number, (r: ExecResult) => void>();
  private consoleText = '';
  private exited?: Promise<void>;
  /** QEMU exited by itself while the guest booted. */
  qemuDied = false;
  /** Set by close(): QEMU exiting after it is no surprise. */
  private closing = false;
  /** What the host was waiting for, by request id (to say what the guest died during). */
  private readonly pendingWhat = new Map<number, string>();
  /** Why the guest is gone, when it went by itself. */
  private death?: string;
  private readonly log: (line: string) => void;

  private constructor(runDir: string, log: (line: string) => void) {
    this.runDir = runDir;
    this.log = log;
  }

  /** Everything the guest printed on its console (kernel log, init). */
  get console(): string {
    return this.consoleText;
  }

  static async boot(options: GuestOptions = {}): Promise<Guest> {
    const log = options.log ?? ((l: string) => process.stderr.write(`[qemu] ${l}\n`));
    prepare(log);
    // sockets want a short path: keep the run directory under the temp dir
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lwq-'));
    const guest = new Guest(runDir, log);
    try {
      await guest.start(options);
    } catch (e) {
      // KVM passed the probe yet QEMU died under it: boot once more without it
      if (chooseAccel().accel !== 'kvm' || !guest.qemuDied) throw e;
      accelChosen = { accel: 'tcg', why: `QEMU died booting under KVM (${(e as Error).message.split('\n')[0]})` };
      return Guest.boot(options);
    }
    return guest;
  }

  private async start(options: GuestOptions): Promise<void> {
    const { accel, why } = chooseAccel();
    const agentSock = path.join(this.runDir, 'agent.sock');
    const monSock = path.join(this.runDir, 'monitor.sock');
    const devices = options.devices ?? [];
    const args = [
      // software emulation; KVM only speeds it up where the machine has it.
      // TCG runs single-threaded: with multi-threaded TCG, V8 in the guest now
      // and then executed wasm code another vCPU had just written before it
      // was visible (SIGSEGV/SIGILL on zeroed code, 1 in 12–19 program runs
      // under load; 0 in 36 with thread=single). It costs ~1.6x per run.
      '-machine', 'pc', ...(accel === 'kvm' ? ['-accel', 'kvm'] : ['-accel', 'tcg,thread=single']), '-cpu', 'max', '-m', String(options.memoryMiB ?? 2048), '-smp', String(options.cpus ?? 2),
      '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none', '-no-reboot',
      '-kernel', path.join(CACHE, 'vmlinux'), '-initrd', path.join(CACHE, 'initramfs.cpio'),
      '-append', [
        'console=ttyS0', 'rdinit=/init', 'panic=-1', 'loglevel=4', 'quiet',
        `lw.project=${PROJECT}`, `lw.cache=${CACHE}`, `lw.run=${this.runDir}`,
        ...(options.network ? [`lw.net=${GUEST_ADDRESS}/24`] : []),
      ].join(' '),
      // ttyS0: console, to our stdout pipe
      '-serial', 'stdio',
      // ttyS1: QEMU's monitor. The serial port listens on a socket and the
      // monitor connects to it, so the two are joined back to back.
      '-chardev', `socket,id=ttyS1,path=${monSock},server=on,wait=off`,
      '-serial', 'chardev:ttyS1',
      '-chardev', `socket,id=qmp,path=${monSock},reconnect=1`,
      '-mon', 'chardev=qmp,mode=control',
      // the agent's channel
      '-device', 'virtio-serial-pci,id=vser',
      '-chardev', `socket,id=agent,path=${agentSock},server=on,wait=off`,
      '-device', 'virtserialport,chardev=agent,name=lw.agent',
      // the host's root, read-only; the run directory, read-write
      '-fsdev', 'local,id=hostfs,path=/,security_model=none,readonly=on,multidevs=remap',
      '-device', 'virtio-9p-pci,fsdev=hostfs,mount_tag=host',
      '-fsdev', `local,id=runfs,path=${this.runDir},security_model=none`,
      '-device', 'virtio-9p-pci,fsdev=runfs,mount_tag=run',
      // the network, when asked for: restricted, only the forwards given
      ...networkArgs(options.network),
      // USB
      '-device', 'qemu-xhci,id=xhci',
      ...(options.qemuArgs ?? []),
      ...devices.flatMap((d) => ['-device', `${d.device},bus=xhci.0,id=${d.id}`]),
    ];
    const started = performance.now();
    this.log(`booting under ${accel === 'kvm' ? 'KVM' : 'TCG (software emulation)'}: ${why} (${devices.map((d) => d.id).join(', ') || 'no USB devices'})`);
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.qemu = qemu;
    qemu.stdout!.setEncoding('utf8');
    qemu.stderr!.setEncoding('utf8');
    qemu.stdout!.on('data', (s: string) => {
      this.consoleText += s;
      if (process.env.LIBUSB_WASM_QEMU_CONSOLE) process.stderr.write(s);
    });
    qemu.stderr!.on('data', (s: string) => {
      this.consoleText += s;
      this.log(`qemu: ${s.trimEnd()}`);
    });
    this.exited = new Promise((resolve) => qemu.on('exit', (code, signal) => {
      if (!this.closing) this.death = this.postMortem(code, signal);
      resolve();
    }));
    // never outlive the test process
    const reap = () => {
      qemu.kill('SIGKILL');
      fs.rmSync(this.runDir, { recursive: true, force: true });
    };
    process.once('exit', reap);
    void this.exited.then(() => process.off('exit', reap));
    const died = this.exited.then(() => {
      this.qemuDied = true;
      throw new Error(`QEMU exited during boot. Console:\n${this.consoleText.slice(-4000)}`);
    });
    const timeoutMs = options.bootTimeoutMs ?? 120_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the guest did not boot within ${timeoutMs} ms. Console:\n${this.consoleText.slice(-4000)}`)), timeoutMs);
    });
    try {
      const ready = await Promise.race([this.connectAgent(agentSock), died, timeout]);
      this.bootMs = Math.round(performance.now() - started);
      this.guestUptime = ready.uptime;
      this.log(`guest ready in ${(this.bootMs / 1000).toFixed(1)} s (guest uptime ${ready.uptime} s)`);
    } catch (e) {
      await this.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The guest went away by itself (its agent died, so init powered it off,
   * or QEMU died): say how, what was running, and keep the agent's core
   * dump (init.sh points core_pattern at the run directory) out of the run
   * directory that close() removes.
   */
  private postMortem(code: number | null, signal: string | null): string {
    const agentLine = /lw-init: agent exited[^\n]*/.exec(this.consoleText)?.[0];
    const how = agentLine ?? `QEMU exited (${signal ?? `status ${code}`})`;
    const during = [...this.pendingWhat.values()];
    let cores: string[] = [];
    try {
      cores = fs.readdirSync(this.runDir).filter((f) => f.startsWith('core.'));
      if (cores.length) {
        const keep = path.join(CACHE, 'crashes', new Date().toISOString().replace(/[:.]/g, '-'));
        fs.mkdirSync(keep, { recursive: true });
        cores = cores.map((f) => {
          const to = path.join(keep, f);
          fs.renameSync(path.join(this.runDir, f), to);
          return to;
        });
      }
    } catch (e) {
      cores.push(`(could not keep the core dump: ${(e as Error).message})`);
    }
    const text = `${how}${during.length ? `, while the host waited for: ${during.join('; ')}` : ''}` +
      (cores.length ? `\ncore dump kept: ${cores.join(', ')} (backtrace: gdb ${process.execPath} CORE -batch -ex 'thread apply all bt')` : '');
    this.log(`the guest died: ${text}`);
    return text;
  }

  /**
   * A request to the agent; rejects with the guest's death if it dies
   * first, and at once, naming that first failure, once it has died (no
   * cascade of timeouts).
   */
  private request<T>(what: string, message: Record<string, unknown>, settle: (m: ExecResult, resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
    if (this.death) return Promise.reject(new Error(`the guest is gone, so not running ${what}. It died earlier: ${this.death}`));
    if (!this.agent) return Promise.reject(new Error('the guest is not running'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pendingWhat.set(id, what);
      this.waiting.set(id, (m) => {
        this.pendingWhat.delete(id);
        settle(m, resolve, reject);
      });
      this.agent!.write(JSON.stringify({ id, ...message }) + '\n');
      void this.exited!.then(() => {
        if (this.waiting.delete(id)) {
          this.pendingWhat.delete(id);
          reject(new Error(`the guest died during ${what}: ${this.death ?? 'QEMU exited'}\nConsole (end):\n${this.consoleText.slice(-3000)}`));
        }
      });
    });
  }

  /** Connect to the agent's socket (QEMU creates it shortly after start) and wait for its ready message. */
  private async connectAgent(file: string): Promise<{ uptime: number }> {
    let socket: net.Socket | undefined;
    for (let i = 0; !socket; i++) {
      try {
        socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(file, () => resolve(s));
          s.once('error', reject);
        });
      } catch {
        if (this.qemu?.exitCode !== null) throw new Error('QEMU exited');
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    this.agent = socket;
    socket.setEncoding('utf8');
    // a write after the guest died: the pending requests fail through `exited`
    socket.on('error', (e) => this.log(`agent socket: ${e.message}`));
    return new Promise((resolve) => {
      let pending = '';
      socket!.on('data', (s: string) => {
        pending += s;
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          let m;
          try {
            m = JSON.parse(line);
          } catch {
            this.log(`agent: ${line}`);
            continue;
          }
          if (m.ready) resolve({ uptime: m.uptime });
          else if (typeof m.id === 'number') {
            this.waiting.get(m.id)?.(m);
            this.waiting.delete(m.id);
          } else this.log(`agent: ${line}`);
        }
      });
    });
  }

  /** Run a command in the guest. */
  exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? 120_000;
    return this.request<ExecResult>(`exec ${argv.join(' ')}`,
      { op: 'exec', argv, cwd: options.cwd ?? PROJECT, env: options.env, stdin: options.stdin, timeoutMs },
      (m, resolve) => resolve(m));
  }

  /**
   * Call a function of a guest-side module (default: guest/scenarios.mjs) in
   * the agent's own process, and return its result.
   */
  call<T = unknown>(fn: string, args: unknown[] = [], module = path.join(HERE, 'guest/scenarios.mjs')): Promise<T> {
    return this.request<T>(`${fn}(${JSON.stringify(args).slice(1, -1).slice(0, 200)})`, { op: 'call', module, fn, args }, (m, resolve, reject) => {
      const r = m as unknown as { value?: T; error?: string };
      if (r.error !== undefined && !('value' in r)) reject(new Error(`in the guest, ${fn}: ${r.error}`));
      else resolve(r.value as T);
    });
  }

  /** Run a command and fail with its output unless it exits with 0. */
  async run(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.exec(argv, options);
    if (r.code !== 0) {
      throw new Error(`${argv.join(' ')} exited with ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}${r.error ? ` (${r.error})` : ''}\n` +
        `--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    }
    return r;
  }

  /** Run a libusb program of ours in the guest through the CLI (node transport by default). */
  libusb(program: string, args: string[] = [], options: ExecOptions & { cliArgs?: string[] } = {}): Promise<ExecResult> {
    return this.exec(['node', path.join(PROJECT, 'dist/cli.js'), 'run', ...(options.cliArgs ?? []), program, '--', ...args], options);
  }

  /** Stop QEMU (the guest has nothing to save) and remove the run directory. */
  async close(): Promise<void> {
    this.closing = true;
    this.agent?.destroy();
    if (this.qemu && this.qemu.exitCode === null) {
      this.qemu.kill('SIGKILL');
      await this.exited;
    }
    fs.rmSync(this.runDir, { recursive: true, force: true });
  }
}

/** Boot a guest (see {@link Guest.boot}). */
/**
 * Let other users reach the project: a test runs programs in the guest as
 * `nobody`, and the guest sees the host's file modes. A clone made in
 * `mktemp -d` is 0700; its directories gain o+x (and the project o+r), and
 * the change is logged.
 */
export function letOthersReachProject(log = (l: string) => process.stderr.write(`[qemu] ${l}\n`)): void {
  for (let dir = PROJECT; ; dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode & 0o7777;
    const want = mode | 0o001 | (dir === PROJECT ? 0o004 : 0);
    if (want !== mode) {
      fs.chmodSync(dir, want);
      log(`made ${dir} reachable by other users (mode ${mode.toString(8)} -> ${want.toString(8)}): a test runs programs as nobody`);
    }
    if (dir === path.dirname(dir)) break;
  }
}

export function bootGuest(options?: GuestOptions): Promise<Guest> {
  return Guest.boot(options);
}
