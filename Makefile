# libusb-wasm: `make demo` runs libusb's own examples against simulated
# devices, `make test` runs every test. Both install what they need first.

.PHONY: all build deps demo test test-c third-party clean distclean

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

# Third-party C code built with its own build system against build/sdk
# (hidapi from Debian's source package, small autotools and CMake projects).
third-party: build
	@scripts/third-party/projects.sh
	@scripts/third-party/hidapi.sh

test: build third-party
	@scripts/ensure-chromium.sh
	@npx vitest run

clean:
	rm -rf build dist

distclean: clean
	rm -rf wasm/libusb-src node_modules
