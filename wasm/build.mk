# Compiles libusb (upstream, unpatched) plus our backend into the SDK an
# emcc user links against, then builds upstream's examples and tests and our
# C tests against that SDK, exactly as a user would (pkg-config flags).
# Driven by build.sh; every rule is incremental.

EMCC ?= emcc
EMAR ?= emar
BUILD ?= build
SRC := wasm/libusb-src/libusb
SDK := $(BUILD)/sdk
OBJ := $(BUILD)/obj

# The upstream core, unpatched, and upstream's POSIX thread helpers.
CORE := core descriptor hotplug io strerror sync os/threads_posix
BACKEND := backend events host_channel
# The POSIX runtime programs get with libusb (docs/posix.md).
RUNTIME := threads signals sleep timers stdin fds poll sockets socket_data socket_options

CFLAGS_LIB := -O2 -g0 -pthread -std=gnu11 -Wall -Wno-unused-parameter \
	-Iwasm/backend -I$(SRC) -DLIBUSB_WASM=1

# The runtime is libc-level code: no libusb headers, every warning an error.
CFLAGS_RUNTIME := -O2 -g0 -pthread -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare

LIB_OBJS := $(addprefix $(OBJ)/core/,$(notdir $(addsuffix .o,$(CORE)))) \
	$(addprefix $(OBJ)/backend/,$(addsuffix .o,$(BACKEND))) \
	$(addprefix $(OBJ)/runtime/,$(addsuffix .o,$(RUNTIME)))

PC := $(SDK)/lib/pkgconfig/libusb-1.0.pc
SDK_FILES := $(SDK)/lib/libusb-1.0.a $(SDK)/include/libusb-1.0/libusb.h \
	$(SDK)/lib/library_libusb_wasm.js $(SDK)/lib/library_libusb_wasm_posix.js $(SDK)/lib/libusb_wasm_pre.js $(PC)

# What programs link with, from the pkg-config file (the way users get it).
PROG_CFLAGS = $(shell PKG_CONFIG_PATH=$(SDK)/lib/pkgconfig pkg-config --cflags libusb-1.0)
PROG_LIBS = $(shell PKG_CONFIG_PATH=$(SDK)/lib/pkgconfig pkg-config --libs libusb-1.0)
PROG_OPT := -O2

EXAMPLES := listdevs xusb testlibusb fxload hotplugtest dpfp sam3u_benchmark
UPSTREAM_TESTS := stress stress_mt set_option init_context
OUR_TESTS := $(basename $(notdir $(wildcard test/c/*.c)))
BENCHES := $(basename $(notdir $(wildcard bench/c/*.c)))

EXAMPLE_JS := $(addprefix $(BUILD)/examples/,$(addsuffix .js,$(EXAMPLES)))
UPSTREAM_TEST_JS := $(addprefix $(BUILD)/tests/,$(addsuffix .js,$(UPSTREAM_TESTS)))
OUR_TEST_JS := $(addprefix $(BUILD)/tests/,$(addsuffix .js,$(OUR_TESTS)))
BENCH_JS := $(addprefix $(BUILD)/bench/,$(addsuffix .js,$(BENCHES)))
# listdevs linked without one of the SDK's link flags: what the runner says about such a program (test/cli.test.ts)
MISLINKED_JS := $(BUILD)/tests/listdevs_unproxied.js $(BUILD)/tests/listdevs_no_exit_runtime.js

.PHONY: sdk programs all
all: sdk programs
sdk: $(SDK_FILES)
programs: $(EXAMPLE_JS) $(UPSTREAM_TEST_JS) $(OUR_TEST_JS) $(BENCH_JS) $(MISLINKED_JS)

$(OBJ)/core/%.o: $(SRC)/%.c wasm/backend/config.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(EMCC) $(CFLAGS_LIB) -c $< -o $@
$(OBJ)/core/threads_posix.o: $(SRC)/os/threads_posix.c wasm/backend/config.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(EMCC) $(CFLAGS_LIB) -c $< -o $@
$(OBJ)/backend/%.o: wasm/backend/%.c $(wildcard wasm/backend/*.h)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(EMCC) $(CFLAGS_LIB) -c $< -o $@
$(OBJ)/runtime/%.o: wasm/runtime/%.c $(wildcard wasm/runtime/*.h)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(EMCC) $(CFLAGS_RUNTIME) -c $< -o $@

$(SDK)/lib/libusb-1.0.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	@echo "  AR      $@"
	@rm -f $@ && $(EMAR) rcs $@ $^
$(SDK)/include/libusb-1.0/libusb.h: $(SRC)/libusb.h
	@mkdir -p $(@D) && cp $< $@
$(SDK)/lib/library_libusb_wasm.js: wasm/js/library_libusb_wasm.js
	@mkdir -p $(@D) && cp $< $@
$(SDK)/lib/library_libusb_wasm_posix.js: wasm/runtime/library_posix.js
	@mkdir -p $(@D) && cp $< $@
$(SDK)/lib/libusb_wasm_pre.js: wasm/js/libusb_wasm_pre.js
	@mkdir -p $(@D) && cp $< $@
$(PC): wasm/libusb-1.0.pc.in
	@mkdir -p $(@D)
	@sed -e 's|@VERSION@|1.0.30|' $< > $@

# Every program depends on the whole SDK: relink when libusb changes.
# Upstream's examples include config.h, as in-tree builds do.
EXAMPLE_CFLAGS = $(PROG_CFLAGS) -Iwasm/backend
$(BUILD)/examples/fxload.js: $(SRC)/../examples/fxload.c $(SRC)/../examples/ezusb.c $(SDK_FILES)
	@mkdir -p $(@D)
	@echo "  EMCC    $@"
	@$(EMCC) $(PROG_OPT) $(EXAMPLE_CFLAGS) $(filter %.c,$^) -o $@ $(PROG_LIBS)
$(BUILD)/examples/%.js: $(SRC)/../examples/%.c $(SDK_FILES)
	@mkdir -p $(@D)
	@echo "  EMCC    $@"
	@$(EMCC) $(PROG_OPT) $(EXAMPLE_CFLAGS) $< -o $@ $(PROG_LIBS)

$(BUILD)/tests/listdevs_unproxied.js: $(SRC)/../examples/listdevs.c $(SDK_FILES)
	@mkdir -p $(@D)
	@echo "  EMCC    $@"
	@$(EMCC) $(PROG_OPT) $(EXAMPLE_CFLAGS) $< -o $@ $(filter-out -sPROXY_TO_PTHREAD=1,$(PROG_LIBS))
$(BUILD)/tests/listdevs_no_exit_runtime.js: $(SRC)/../examples/listdevs.c $(SDK_FILES)
	@mkdir -p $(@D)
	@echo "  EMCC    $@"
	@$(EMCC) $(PROG_OPT) $(EXAMPLE_CFLAGS) $< -o $@ $(filter-out -sEXIT_RUNTIME=1,$(PROG_LIBS))

# Upstream's tests include libusbi.h and config.h, like in-tree builds.
TEST_CFLAGS = $(PROG_CFLAGS) -Iwasm/backend -I$(SRC) -I$(SRC)/../tests
$(BUILD)/tests/stress_mt.js: $(SRC)/../tests/stress_mt.c $(SDK_FILES)
	@mkdir -p $(@D)
	@echo "  EMCC    $@"
	@$(EMCC) $(PROG_OPT) $(TEST_CFLAGS) $< -o $@ $(PROG_LIBS)
$(BUILD)/tests/%.js: $(SRC)/../tests/%.c $(SRC)/../tests/testlib.c $(SDK_FILES)
	@mkdir -p $(@D)
	@echo "  EMCC    $@"
	@$(EMCC) $(PROG_OPT) $(TEST_CFLAGS) $< $(SRC)/../tests/testlib.c -o $@ $(PROG_LIBS)

# The field lists of the shared-memory contracts, for the layout tests
# (scripts/gen-protocol.mjs also writes the TypeScript side from the headers).
GEN := $(BUILD)/gen/protocol_fields.h $(BUILD)/gen/api_protocol_fields.h
$(GEN): wasm/backend/protocol.h wasm/api/api_protocol.h scripts/gen-protocol.mjs
	@node scripts/gen-protocol.mjs && touch $(GEN)

# Our own C tests and benchmarks: plain libusb programs.
$(BUILD)/tests/%.js: test/c/%.c $(wildcard test/c/*.h) $(SDK_FILES) $(GEN)
	@mkdir -p $(@D)
	@echo "  EMCC    $@"
	@$(EMCC) $(PROG_OPT) $(PROG_CFLAGS) -I$(BUILD)/gen $< -o $@ $(PROG_LIBS)
$(BUILD)/bench/%.js: bench/c/%.c $(wildcard bench/c/*.h) $(SDK_FILES)
	@mkdir -p $(@D)
	@echo "  EMCC    $@"
	@$(EMCC) $(PROG_OPT) $(PROG_CFLAGS) $< -o $@ $(PROG_LIBS)

# The C half of the typed JS API (ts/api/): a libusb program like any other,
# plus its own small JS library; JS allocates transfer buffers with malloc.
API_JS := $(BUILD)/api/libusb-api.js
.PHONY: api
api: $(API_JS)
all: api
$(API_JS): wasm/api/shim.c wasm/api/records.c $(wildcard wasm/api/*.h) wasm/api/library_api.js $(SDK_FILES)
	@mkdir -p $(@D)
	@echo "  EMCC    $@"
	@$(EMCC) $(PROG_OPT) $(PROG_CFLAGS) -Wall -Werror -Wno-unused-parameter $(filter %.c,$^) -o $@ $(PROG_LIBS) \
		--js-library=wasm/api/library_api.js -sEXPORTED_FUNCTIONS=_main,_malloc,_free
