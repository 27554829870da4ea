/**
 * Under a policy a program cannot change the configuration or an alternate
 * setting behind the policy's back: raw SET_CONFIGURATION and SET_INTERFACE
 * requests are checked exactly like libusb_set_configuration and
 * libusb_set_interface_alt_setting (LIBUSB_ERROR_BUSY while interfaces are
 * claimed, NOT_FOUND for an interface not claimed), and after any
 * configuration change, claims are checked against the policy again.
 *
 * The device (test/fixtures/two-configurations.mjs) has a vendor interface 0
 * in configuration 1 and a HID interface 0 (a protected class) on the same
 * endpoints in configuration 2; the program is test/c/hostile.c reconfigure.
 * On the node transport the same runs against a real kernel (test/qemu/).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, TESTS, run } from './helpers.js';

const HOSTILE = path.join(TESTS, 'hostile.js');
const DEVICE_MODULE = path.join(ROOT, 'test/fixtures/two-configurations.mjs');

const TRANSPORTS = {
  sim: { transport: 'sim' as const, deviceModule: DEVICE_MODULE },
  webusb: { transport: { kind: 'webusb' as const, deviceModule: DEVICE_MODULE, protectedClasses: [] } },
};

for (const [name, transport] of Object.entries(TRANSPORTS)) {
  describe(`raw state-changing requests (${name})`, () => {
    it('under a policy: refused like the libusb calls; the protected interface stays out of reach', async () => {
      const r = await run(HOSTILE, { args: ['reconfigure', '1209:00c2'], ...transport, policy: {} });
      expect(r.stdout.trim().split('\n'), r.stderr).toEqual([
        'open OK',
        'claim 0 OK',
        'raw SET_CONFIGURATION 2 while claimed LIBUSB_ERROR_BUSY',
        'set_configuration 2 while claimed LIBUSB_ERROR_BUSY',
        'raw SET_INTERFACE 0/1 LIBUSB_ERROR_NOT_FOUND', // interface 0 has no alternate setting 1
        'configuration 1',
        'release 0 OK',
        'raw SET_INTERFACE 0/0 unclaimed LIBUSB_ERROR_NOT_FOUND',
        'raw SET_CONFIGURATION 2 OK', // nothing claimed: allowed, as libusb_set_configuration is
        'configuration 2',
        'claim 0 LIBUSB_ERROR_ACCESS', // HID now: the policy blocks it
        'transfer 0x81 LIBUSB_ERROR_NOT_FOUND', // not claimed: no transfers
        'raw SET_CONFIGURATION 1 OK',
        'configuration 1',
      ]);
    });

    it('a trusted program gets what libusb gives: the HID interface is its to claim', async () => {
      const r = await run(HOSTILE, { args: ['reconfigure', '1209:00c2'], ...transport });
      const lines = r.stdout.trim().split('\n');
      expect(lines, r.stderr).toContain('raw SET_CONFIGURATION 2 while claimed LIBUSB_ERROR_BUSY');
      expect(lines.slice(-4)).toEqual([
        'claim 0 OK', // the HID interface of configuration 2
        'transfer 0x81 LIBUSB_ERROR_TIMEOUT', // claimed: it reaches the device (which has nothing to say)
        'raw SET_CONFIGURATION 1 LIBUSB_ERROR_BUSY', // claimed now
        'configuration 2',
      ]);
    });
  });
}
