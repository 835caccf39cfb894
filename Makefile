# quant — build, test and demo. `make demo` and `make test` are the two
# commands a fresh clone needs (see README.md).

GO       ?= go
BIN      := bin/quant
DEMO_DIR := bin/demo
# The Metal kernels are checked on Linux by running their MSL source as C++.
MSL_CXX  ?= clang++-16
MSL_CC   ?= clang-16
# arm64 test binaries run under user-mode emulation.
QEMU_ARM64 ?= qemu-aarch64

.PHONY: build test unit vet fmt-check cross cpu-levels-test arm64-test kernels-test kernels-asan demo lint fuzz metallib bench-metal clean

# -buildvcs=auto: stamp the commit (quant --version, bench's build line) even
# where GOFLAGS turns stamping off.
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/quant

# Everything CI runs.
test: fmt-check vet cross unit cpu-levels-test arm64-test kernels-test kernels-asan

unit:
	$(GO) test ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# vet every platform quant ships for; darwin is checked without cgo, as it is built.
vet:
	$(GO) vet ./...
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) vet ./...

cross:
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/quant
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./cmd/quant
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -o /dev/null ./cmd/quant

# The CPU backend with each kernel level below the machine's best (unit
# runs the best): QUANT_CPU caps the level the CPU kernels use.
cpu-levels-test:
	for l in generic avx2; do QUANT_CPU=$$l $(GO) test -count=1 -timeout 30m ./internal/cpu ./internal/engine || exit 1; done

# The CPU backend as an arm64 CPU (a Mac's) runs it, against the golden
# logits, under qemu at each kernel level: the SDOT kernels (-cpu max has
# the dot-product extension, as every Apple CPU) with the whole CPU and
# engine suites; then the kernel tests and the golden logits with the
# plain NEON kernels on a CPU without it (cortex-a57: feature detection
# picks them) and with the pure-Go kernels, whose fused multiply-adds (Go
# makes them on arm64) must not change the float sums' order.
ARM64_TEST = CGO_ENABLED=0 GOARCH=arm64 $(GO) test -count=1 -short -timeout 30m -exec $(QEMU_ARM64)
arm64-test:
	QEMU_CPU=max QUANT_CPU=dotprod $(ARM64_TEST) ./internal/cpu ./internal/engine
	for c in cortex-a57:neon max:generic; do \
		export QEMU_CPU=$${c%%:*} QUANT_CPU=$${c#*:}; \
		$(ARM64_TEST) ./internal/cpu && \
		$(ARM64_TEST) -run 'TestGoldenLogits|TestQwen35Logits' ./internal/engine || exit 1; \
	done

# The Metal kernels and the Metal backend's dispatches, run by the MSL emulator
# (the backend's emulated model runs take 5-15 minutes depending on the load).
kernels-test:
	CC=$(MSL_CC) CXX=$(MSL_CXX) $(GO) test -timeout 30m -tags mslemu ./internal/kernels/... ./internal/metal/...

# The kernel suite again under AddressSanitizer.
kernels-asan:
	CC=$(MSL_CC) CXX=$(MSL_CXX) $(GO) test -tags 'mslemu mslemu_asan' ./internal/kernels/...

lint: fmt-check vet

fuzz:
	$(GO) test ./internal/gguf -run '^$$' -fuzz FuzzParse -fuzztime 60s

demo: build
	@mkdir -p $(DEMO_DIR)
	$(GO) run ./scripts/synth -preset smollm2-135m -type q4_k_m -o $(DEMO_DIR)/smollm2-135m-q4_k_m.gguf
	$(BIN) info $(DEMO_DIR)/smollm2-135m-q4_k_m.gguf
	$(BIN) run $(DEMO_DIR)/smollm2-135m-q4_k_m.gguf -p "Once upon a time" -n 16 --seed 1
	$(BIN) bench $(DEMO_DIR)/smollm2-135m-q4_k_m.gguf -p 64 -n 16 -r 2

# macOS only: precompile the kernels; the binary embeds the result when present.
metallib:
	cd internal/kernels && for f in *.metal; do xcrun -sdk macosx metal -c $$f -o /tmp/quant-$${f%.metal}.air || exit 1; done
	xcrun -sdk macosx metallib /tmp/quant-*.air -o internal/kernels/metallib/default.metallib

# macOS only: the GPU against the CPU on the test models, then a benchmark.
# What a Mac's owner pastes back: the build and OS, the GPU-vs-CPU parity
# tests on the real GPU, then prefill and decode of the plan's two models
# (synthetic weights, the same shapes) with GPU ms per token and busy share;
# the device name and GPU family are on the "Metal on" lines.
bench-metal: build
	@$(BIN) --version; sw_vers 2>/dev/null | tr '\n' ' '; echo
	$(GO) test ./internal/metal/ -run Metal -count=1 -v
	$(GO) run ./scripts/synth -preset smollm2-1.7b -type q4_k_m -o $(DEMO_DIR)/smollm2-1.7b-q4_k_m.gguf
	$(GO) run ./scripts/synth -preset qwen3.5-4b -type q4_k_m -o $(DEMO_DIR)/qwen3.5-4b-q4_k_m.gguf
	$(BIN) bench $(DEMO_DIR)/smollm2-1.7b-q4_k_m.gguf --backend metal -p 512 -n 128 -r 5
	$(BIN) bench $(DEMO_DIR)/qwen3.5-4b-q4_k_m.gguf --backend metal -p 512 -n 128 -r 3

clean:
	rm -rf bin
