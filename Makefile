# libusb-wasm: `make demo` runs libusb's own examples against simulated
# devices, `make test` runs every test. Both install what they need first.

.PHONY: all build deps demo serve pack test test-c test-qemu qemu-guest third-party bench clean distclean

all: build

# Emscripten from Debian and the npm packages, when missing.
deps: node_modules/.package-lock.json
	@scripts/ensure-emscripten.sh
node_modules/.package-lock.json: package.json package-lock.json
	@echo "==> npm ci"
	@npm ci --no-audit --no-fund
	@touch $@

build: deps
	@./build.sh all

demo: build
	@node scripts/demo.mjs

# The npm package, as build/libusb-wasm.tgz: what the quick start installs
pack: build
	@scripts/pack.sh build

# The browser demo on http://localhost:8080/ (PORT=... to change)
serve: build
	@node scripts/serve.mjs

# The real-kernel tests' guest: QEMU, Debian's kernel, udev... (test/qemu/prepare.sh).
# LIBUSB_WASM_SKIP_QEMU=1 leaves the real-kernel tests out: nothing is installed or downloaded for them.
qemu-guest:
	@if [ -n "$$LIBUSB_WASM_SKIP_QEMU" ]; then echo "==> qemu: LIBUSB_WASM_SKIP_QEMU is set: not preparing the test guest"; \
	else test/qemu/prepare.sh; fi

# Third-party C code built with its own build system against build/sdk
# (hidapi from Debian's source package, small autotools and CMake projects).
third-party: build
	@scripts/third-party/projects.sh
	@scripts/third-party/hidapi.sh

test: build qemu-guest third-party
	@scripts/ensure-chromium.sh
	@scripts/ensure-tshark.sh
	@echo "==> typecheck"
	@npx tsc --noEmit -p tsconfig.json
	@echo "==> vitest"
	@npx vitest run

# only the real-kernel tests (the node transport, and Chromium's WebUSB, under QEMU)
test-qemu: build qemu-guest
	@scripts/ensure-chromium.sh
	@npx vitest run test/qemu

# The benchmarks (bench/): the wasm stack against the same loops in plain
# JS on the same platform object, in each mode (Node with results as
# microtasks or tasks, with a busy thread, headless Chromium), plus cold
# start, idle cost and size; writes bench/RESULTS.md. Took 16-28 minutes
# on the shared 2-core machine. BENCH_ARGS="--modes webusb-task --runs 3" and the
# like pass through (node bench/run.mjs --help).
# Then USB/IP (bench/usbip.mjs, ~2 minutes): the usbip transport against a
# local usbip-serve, a JS baseline and raw TCP; writes bench/USBIP.md
# (USBIP_BENCH_ARGS="--runs 3" and the like).
bench: build
	@scripts/ensure-chromium.sh
	@node bench/run.mjs $(BENCH_ARGS)
	@node bench/usbip.mjs $(USBIP_BENCH_ARGS)

clean:
	rm -rf build dist

distclean: clean
	rm -rf wasm/libusb-src node_modules
