/** Intel-hex images for the fxload tests: build one from segments, read one back. */

export interface Segment {
  address: number;
  data: Uint8Array;
}

/** Intel-hex records (16 bytes each) for a set of segments. */
export function intelHex(segments: Segment[]): string {
  const lines: string[] = [];
  const rec = (addr: number, type: number, bytes: number[]) => {
    const all = [bytes.length, addr >> 8, addr & 0xff, type, ...bytes];
    const sum = (0x100 - (all.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
    lines.push(':' + [...all, sum].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(''));
  };
  for (const s of segments) {
    for (let off = 0; off < s.data.length; off += 16) rec(s.address + off, 0, Array.from(s.data.subarray(off, off + 16)));
  }
  rec(0, 1, []);
  return lines.join('\n') + '\n';
}

/** The contiguous segments an Intel-hex image writes (data records only, checksums verified). */
export function parseIntelHex(text: string): Segment[] {
  const memory = new Map<number, number>();
  for (const line of text.split(/\r?\n/)) {
    if (!line.startsWith(':')) continue;
    const bytes = line.slice(1).match(/../g)!.map((h) => parseInt(h, 16));
    if (bytes.reduce((a, b) => a + b, 0) & 0xff) throw new Error(`bad checksum: ${line}`);
    const [len, hi, lo, type] = bytes;
    if (type === 1) break;
    if (type !== 0) continue;
    for (let i = 0; i < len; i++) memory.set(((hi << 8) | lo) + i, bytes[4 + i]);
  }
  const addresses = [...memory.keys()].sort((a, b) => a - b);
  const out: Segment[] = [];
  for (const a of addresses) {
    const last = out[out.length - 1];
    if (last && last.address + last.data.length === a) last.data = Uint8Array.from([...last.data, memory.get(a)!]);
    else out.push({ address: a, data: Uint8Array.of(memory.get(a)!) });
  }
  return out;
}
