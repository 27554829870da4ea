/* Prints the API shim's shared-memory layout as the C compiler sees it:
 * every field and size scripts/gen-protocol.mjs laid out
 * (build/gen/api_protocol_fields.h), for test/protocol.test.ts to
 * compare with the generated ts/api/api-protocol.gen.ts. */
#include <stdio.h>
#include <stddef.h>
#include <libusb.h>
#include "../../wasm/api/api_protocol.h"

#define F(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f));
#define S(s) printf("size.%s %zu\n", #s, sizeof(struct s));

int main(void)
{
	/* a real libusb program, so that the runner takes it */
	if (libusb_init_context(NULL, NULL, 0) != 0)
		return 1;
	libusb_exit(NULL);
#include "api_protocol_fields.h"
	return 0;
}
