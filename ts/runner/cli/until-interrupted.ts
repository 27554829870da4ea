/**
 * The CLI's commands that serve until interrupted (`usbip-serve`,
 * `usbip-bridge`): start, say where they listen, wait for SIGINT or SIGTERM,
 * close. A failure to start is one line and exit status 1.
 * @module
 */

/** Something that serves until it is closed. */
export interface Service {
  /** One line: where it listens, what it serves. */
  readonly summary: string;
  close(): Promise<void>;
}

/** Run `start`'s service until SIGINT/SIGTERM; the exit status. */
export async function serveUntilInterrupted(command: string, start: () => Promise<Service>): Promise<number> {
  let service: Service;
  try {
    service = await start();
  } catch (e) {
    process.stderr.write(`libusb-wasm ${command}: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`${command}: ${service.summary}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await service.close();
  return 0;
}
