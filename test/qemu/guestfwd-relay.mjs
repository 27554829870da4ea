// One connection of the QEMU guest to the host (test/qemu/qemu.ts,
// GuestNetwork.guestForwards): QEMU starts this for each connection the
// guest opens to a forwarded address, with that connection as stdin and
// stdout, and it carries the bytes to host:port on the host and back. When
// either side closes, so does the other (a USB/IP server sees its client go).
// Nothing may be written to stderr: it is the guest's connection too.
//
// usage (by QEMU): node --no-warnings guestfwd-relay.mjs 127.0.0.1 PORT
import net from 'node:net';

const [host, port] = process.argv.slice(2);
const upstream = net.connect({ host, port: Number(port) });
upstream.setNoDelay(true);
process.stdin.pipe(upstream);
upstream.pipe(process.stdout);
process.stdin.on('end', () => upstream.destroy());
process.stdin.on('error', () => upstream.destroy());
process.stdout.on('error', () => upstream.destroy());
upstream.on('error', () => {});
upstream.on('close', () => process.exit(0));
