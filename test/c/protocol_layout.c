/* Prints the shared-memory protocol layout as the C compiler sees it: every
 * field and size scripts/gen-protocol.mjs laid out (build/gen/protocol_fields.h),
 * for test/protocol.test.ts to compare with the generated ts/host/protocol.gen.ts. */
#include <stdio.h>
#include <stddef.h>
#include <libusb.h>
#include "../../wasm/backend/protocol.h"

#define F(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f));
#define S(s) printf("size.%s %zu\n", #s, sizeof(struct s));

int main(void)
{
	/* a real libusb program: initialise and attach to the host like any other */
	if (libusb_init_context(NULL, NULL, 0) != 0)
		return 1;
	libusb_exit(NULL);
#include "protocol_fields.h"
	return 0;
}
