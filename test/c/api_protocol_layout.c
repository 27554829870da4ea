/* Prints the API shim's shared-memory layout as the C compiler sees it, for
 * test/api-protocol.test.ts to compare with ts/api/protocol.ts. */
#include <stdio.h>
#include <stddef.h>
#include <libusb.h>
#include "../../wasm/api/api_protocol.h"

#define F(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f))

int main(void)
{
	/* a real libusb program, so that the runner takes it */
	if (libusb_init_context(NULL, NULL, 0) != 0)
		return 1;
	libusb_exit(NULL);
	F(lwa_msg, next); F(lwa_msg, kind); F(lwa_msg, result); F(lwa_msg, arg); F(lwa_msg, data); F(lwa_msg, len);
	F(lwa_transfer, num_iso);
	F(lwa_iso_packet, length); F(lwa_iso_packet, actual_length); F(lwa_iso_packet, status);
	F(lwa_block, magic); F(lwa_block, version); F(lwa_block, cmd_head); F(lwa_block, cmd_bell);
	F(lwa_block, cmd_sleeping); F(lwa_block, evt_head); F(lwa_block, evt_bell); F(lwa_block, js_waiting);
	printf("size.lwa_msg %zu\nsize.lwa_transfer %zu\nsize.lwa_iso_packet %zu\nsize.lwa_block %zu\n",
		sizeof(struct lwa_msg), sizeof(struct lwa_transfer), sizeof(struct lwa_iso_packet), sizeof(struct lwa_block));
	return 0;
}
