/**
 * A USB/IP server (`libusb-wasm usbip-serve`): exports the devices of any
 * transport (simulated models, the node transport's real devices) to any
 * USB/IP client, the Linux kernel's `usbip attach` first. It listens on
 * 127.0.0.1 unless told otherwise: USB/IP has no authentication and no
 * encryption (docs/usbip.md says how to tunnel it).
 *
 * Each connection sends one request: OP_REQ_DEVLIST is answered and the
 * connection closed; OP_REQ_IMPORT makes the device the client's (one
 * client at a time) and the connection carries its URBs (./session.ts)
 * until either side closes it. A client that breaks the protocol loses its
 * connection, with one line in the log saying why; nothing else is
 * affected.
 * @module
 */
import net from 'node:net';
import type { Transport } from '../../transports/transport.js';
import type { DeviceFilter } from '../../usb/filters.js';
import { UsbipParser } from '../../transports/usbip/parser.js';
import { batchedWriter } from '../../transports/usbip/tcp.js';
import {
  DEFAULT_MAX_TRANSFER_LENGTH, OpStatus, USBIP_PORT, UsbipProtocolError, encodeRepDevlist, encodeRepImport,
  type CmdSubmit, type CmdUnlink, type UsbipMessage,
} from '../../transports/usbip/protocol.js';
import { ExportedDevices, type ExportedDevice, type ServerLog } from './exports.js';
import { ImportSession } from './session.js';

/** A client must send its request within this long. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Connections served at once; more are closed at once (each may buffer a transfer's data). */
const MAX_CONNECTIONS = 128;

/** Options of {@link UsbipServer.start}. */
export interface UsbipServerOptions {
  /** The devices to export come from this transport (the caller builds it, and closes it after the server). */
  transport: Transport;
  /** Export only devices matching one of these (WebUSB's filter rules); all devices when absent or empty. */
  filters?: DeviceFilter[];
  /** Address to listen on (default 127.0.0.1: only this machine). */
  host?: string;
  /** TCP port (default 3240; 0 picks a free one). */
  port?: number;
  /** Diagnostics and connection events (default: console.error). */
  log?: ServerLog;
  /** Largest transfer a client may ask for (default 16 MiB). */
  maxTransferLength?: number;
  /** Log every command and reply too (to see what a client asks of a device). */
  trace?: boolean;
}

/** An exported device, as {@link UsbipServer.devices} lists it. */
export interface UsbipServedDevice {
  /** The busid clients import it by. */
  busid: string;
  /** idVendor. */
  vendorId: number;
  /** idProduct. */
  productId: number;
  /** The client that imported it ("address:port"), if one has. */
  importedBy?: string;
}

/** A USB/IP server on a TCP port (see the module's description); {@link UsbipServer.start} starts one. */
export class UsbipServer {
  /** The address it listens on. */
  readonly host: string;
  /** The TCP port it listens on. */
  readonly port: number;
  private readonly sessions = new Map<ExportedDevice, net.Socket>();
  private readonly sockets = new Set<net.Socket>();
  private readonly releases = new Set<Promise<void>>();

  private constructor(private readonly server: net.Server, private readonly exports: ExportedDevices, private readonly log: ServerLog) {
    const address = server.address() as net.AddressInfo;
    this.host = address.address;
    this.port = address.port;
  }

  /** Start listening; resolves once the devices present are exported and the port is open. */
  static async start(options: UsbipServerOptions): Promise<UsbipServer> {
    const log = options.log ?? ((m: string) => console.error(`usbip-serve: ${m}`));
    const exports = new ExportedDevices(options.transport, options.filters ?? [], log);
    await exports.ready;
    const tcp = net.createServer();
    let server!: UsbipServer;
    tcp.on('connection', (socket) => server.accept(socket, options.maxTransferLength ?? DEFAULT_MAX_TRANSFER_LENGTH, options.trace ? log : undefined));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', (e: NodeJS.ErrnoException) => {
        exports.close();
        reject(new Error(e.code === 'EADDRINUSE'
          ? `port ${options.port ?? USBIP_PORT} on ${options.host ?? '127.0.0.1'} is in use (a usbipd running? pick another with --port)`
          : `cannot listen: ${e.message}`));
      });
      tcp.listen(options.port ?? USBIP_PORT, options.host ?? '127.0.0.1', () => resolve());
    });
    server = new UsbipServer(tcp, exports, log);
    exports.onLeave = (e) => server.sessions.get(e)?.destroy();
    return server;
  }

  /** The exported devices, and who has imported each. */
  devices(): UsbipServedDevice[] {
    return this.exports.list().map((e) => {
      const info = this.exports.info(e);
      return { busid: e.busid, vendorId: info.vendorId, productId: info.productId, importedBy: e.importedBy };
    });
  }

  /** Stop listening, end every connection, and wait until every imported device is released. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
    await Promise.all(this.releases);
    this.exports.close();
  }

  private accept(socket: net.Socket, maxTransferLength: number, trace: ServerLog | undefined): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.sockets.size >= MAX_CONNECTIONS) {
      this.log(`${peer}: ${MAX_CONNECTIONS} connections open already; connection closed`);
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const parser = UsbipParser.forServer({ maxTransferLength });
    let session: ImportSession | undefined;
    /** Commands that came before the import finished. */
    let queued: (CmdSubmit | CmdUnlink)[] | undefined;
    const timer = setTimeout(() => {
      this.log(`${peer}: no request within ${REQUEST_TIMEOUT_MS / 1000} s; connection closed`);
      socket.destroy();
    }, REQUEST_TIMEOUT_MS);

    const command = (m: CmdSubmit | CmdUnlink) => session?.handle(m);
    const onMessage = (m: UsbipMessage) => {
      clearTimeout(timer);
      if (m.type === 'req-devlist') {
        socket.end(encodeRepDevlist(this.exports.list().map((e) => this.exports.info(e))));
      } else if (m.type === 'req-import') {
        queued = [];
        void this.import(m.busid, socket, peer, trace).then((s) => {
          session = s;
          const early = queued!;
          queued = undefined;
          if (s) for (const c of early) command(c);
        }).catch((e) => closeWith(e));
      } else if (m.type === 'cmd-submit' || m.type === 'cmd-unlink') {
        if (queued) queued.push(m);
        else command(m);
      }
    };
    let closing = false;
    const closeWith = (e: unknown) => {
      if (closing) return;
      closing = true;
      const why = e instanceof UsbipProtocolError ? `broke the protocol: ${e.message}` : `failed: ${(e as Error)?.message ?? e}`;
      this.log(`${peer} ${why}; connection closed`);
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      if (closing) return;
      try {
        for (const m of parser.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))) onMessage(m);
      } catch (e) {
        closeWith(e);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
      if (!session) return;
      const s = session;
      const release = s.close().finally(() => {
        this.releases.delete(release);
        if (this.sessions.get(s.exported) === socket) {
          this.sessions.delete(s.exported);
          s.exported.importedBy = undefined;
        }
        this.log(`${peer} released ${s.exported.busid}`);
      });
      this.releases.add(release);
    });
  }

  /** OP_REQ_IMPORT: answer it; resolves with the device's session, or undefined (refused, connection ending). */
  private async import(busid: string, socket: net.Socket, peer: string, trace: ServerLog | undefined): Promise<ImportSession | undefined> {
    const e = this.exports.get(busid);
    if (!e || e.importedBy) {
      this.log(`${peer} asked for ${busid}: ${e ? `busy (imported by ${e.importedBy})` : 'no such device'}`);
      socket.end(encodeRepImport(e ? OpStatus.DEV_BUSY : OpStatus.NA));
      return undefined;
    }
    e.importedBy = peer;
    this.sessions.set(e, socket);
    // a reply's parts, and the replies of one turn, in one write (the data is not copied)
    const write = batchedWriter(socket);
    const session = new ImportSession(e, (parts) => {
      for (const p of parts) write(p);
    }, this.log, trace);
    try {
      await session.start();
    } catch (err) {
      this.log(`${peer} asked for ${busid}: it could not be opened (${(err as Error)?.message ?? err})`);
      this.sessions.delete(e);
      e.importedBy = undefined;
      await session.close();
      socket.end(encodeRepImport(OpStatus.DEV_ERR));
      return undefined;
    }
    if (socket.destroyed) {
      await session.close();
      this.sessions.delete(e);
      e.importedBy = undefined;
      return undefined;
    }
    socket.write(encodeRepImport(OpStatus.OK, this.exports.info(e)));
    this.log(`${peer} imported ${busid}`);
    return session;
  }
}
