/**
 * Descriptor dumps of the real-kernel tests: what lsusb -v (the kernel's
 * view) and libusb's testlibusb (ours) print, reduced to what both show.
 * @module
 */

/** The fields both lsusb -v and testlibusb print, in order, per device (VID:PID). */
export function descriptorFields(text: string, kind: 'lsusb' | 'testlibusb'): Map<string, string[]> {
  const keys = ['wTotalLength', 'bNumInterfaces', 'bConfigurationValue', 'iConfiguration', 'bInterfaceNumber',
    'bAlternateSetting', 'bNumEndpoints', 'bInterfaceClass', 'bInterfaceSubClass', 'bInterfaceProtocol',
    'iInterface', 'bEndpointAddress', 'wMaxPacketSize', 'bInterval'];
  // only the standard descriptors (lsusb also prints class-specific ones with the same field names)
  const standard = kind === 'lsusb'
    ? /^\s+(Configuration|Interface|Endpoint) Descriptor:$/
    : /^\s+(Configuration|Interface|Endpoint):$/;
  const devices = new Map<string, string[]>();
  let current: string[] | undefined;
  let inStandard = false;
  for (const line of text.split('\n')) {
    if (/^\s*[\w .()-]+:\s*$/.test(line)) inStandard = standard.test(line);
    const head = kind === 'lsusb'
      ? /^Bus \d+ Device \d+: ID ([0-9a-f]{4}):([0-9a-f]{4})/.exec(line)
      : /^Dev \(bus \d+, device \d+\): ([0-9A-F]{4}) - ([0-9A-F]{4})/.exec(line);
    if (head) {
      current = [];
      devices.set(`${head[1]}:${head[2]}`.toLowerCase(), current);
      continue;
    }
    const m = /^\s+(\w+):?\s+(\S+)/.exec(line);
    if (!current || !inStandard || !m || !keys.includes(m[1])) continue;
    const v = m[2];
    const n = v.startsWith('0x') ? parseInt(v, 16) : /^[0-9a-f]+h$/i.test(v) ? parseInt(v, 16) : parseInt(v, 10);
    current.push(`${m[1]}=${n}`);
  }
  return devices;
}


/**
 * testlibusb's output, one entry per device (VID:PID, lower case): every
 * line after its "Dev (bus B, device D): VVVV - PPPP speed: S" header.
 * The header is left out: bus, address and speed are where transports
 * differ (WebUSB gives none of them).
 */
export function testlibusbDevices(text: string): Map<string, string> {
  const devices = new Map<string, string>();
  for (const block of text.split(/^(?=Dev \()/m)) {
    const head = /^Dev \(bus \d+, device \d+\): ([0-9A-F]{4}) - ([0-9A-F]{4})/.exec(block);
    if (head) devices.set(`${head[1]}:${head[2]}`.toLowerCase(), block.slice(block.indexOf('\n') + 1));
  }
  return devices;
}
