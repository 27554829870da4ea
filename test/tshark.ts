/**
 * Reading captures with Debian's tshark (scripts/ensure-tshark.sh installs
 * it): the real usbmon dissector decides what the capture says.
 */
import { execFileSync } from 'node:child_process';

/** One row per packet matching `filter`, one string per field (several values of a field: comma-separated). */
export function tsharkFields(file: string, filter: string, fields: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a',
    ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  return out.split('\n').filter((line) => line.length).map((line) => line.split('\t'));
}

/** Packets the dissector found malformed, or warned or erred about: "frame: message". */
export function tsharkProblems(file: string): string[] {
  return tsharkFields(file, '_ws.malformed or _ws.expert.severity >= 0x600000', ['frame.number', '_ws.expert.message'])
    .map(([frame, message]) => `${frame}: ${message}`);
}
