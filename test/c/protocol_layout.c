/* Prints the shared-memory protocol layout as the C compiler sees it, for
 * test/protocol.test.ts to compare with ts/host/protocol.ts. */
#include <stdio.h>
#include <stddef.h>
#include <libusb.h>
#include "../../wasm/backend/protocol.h"

#define F(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f))

int main(void)
{
	/* a real libusb program: initialise and attach to the host like any other */
	if (libusb_init_context(NULL, NULL, 0) != 0)
		return 1;
	libusb_exit(NULL);
	F(lw_req, next); F(lw_req, op); F(lw_req, status); F(lw_req, done); F(lw_req, ctx);
	F(lw_req, dev); F(lw_req, handle); F(lw_req, arg0); F(lw_req, arg1); F(lw_req, buf);
	F(lw_req, len); F(lw_req, actual); F(lw_req, timeout); F(lw_req, iso); F(lw_req, num_iso);
	F(lw_req, flags); F(lw_req, seq);
	F(lw_shared, magic); F(lw_shared, version); F(lw_shared, req_head); F(lw_shared, doorbell);
	F(lw_shared, host_idle); F(lw_shared, req_size); F(lw_shared, host_state);
	F(lw_shared, limit_transfers); F(lw_shared, limit_bytes); F(lw_shared, finished_transfers);
	F(lw_shared, finished_bytes);
	F(lw_shared, host_beat); F(lw_shared, prog_beat);
	F(lw_ctx_shared, wake); F(lw_ctx_shared, sleepers); F(lw_ctx_shared, done_head); F(lw_ctx_shared, hotplug_pending);
	F(lw_handle_shared, ep_in_mask); F(lw_handle_shared, ep_out_mask); F(lw_handle_shared, gone);
	F(lw_handle_shared, flags);
	F(libusb_iso_packet_descriptor, length); F(libusb_iso_packet_descriptor, actual_length);
	F(libusb_iso_packet_descriptor, status);
	printf("size.lw_req %zu\nsize.lw_shared %zu\nsize.lw_ctx_shared %zu\nsize.lw_handle_shared %zu\nsize.iso %zu\n",
		sizeof(struct lw_req), sizeof(struct lw_shared), sizeof(struct lw_ctx_shared),
		sizeof(struct lw_handle_shared), sizeof(struct libusb_iso_packet_descriptor));
	return 0;
}
