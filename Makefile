# lloop: Meson + Ninja underneath; these are the commands a user types.
SANITIZE ?=
ifeq ($(SANITIZE),)
BUILD ?= build
MESON_SAN :=
else
BUILD ?= build-san
# a report must fail the run, not scroll by
MESON_SAN := -Db_sanitize=$(SANITIZE) -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all
endif
export BUILD

.PHONY: all deps check-deps demo check bench fuzz vm-check vm-swap clean format

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	@command -v meson >/dev/null || scripts/deps build
	meson setup $(BUILD) $(MESON_SAN)

deps:
	scripts/deps build

check-deps:
	scripts/deps check

demo: deps
	$(MAKE) all
	@test -e demo.img || truncate -s 1G demo.img
	@echo
	@echo "Serving demo.img (1 GiB, sparse) on 127.0.0.1:10809. Try, from another shell:"
	@echo "  nbdinfo nbd://127.0.0.1:10809"
	@echo "  qemu-io -f raw -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M' nbd://127.0.0.1:10809"
	@echo "  nbd-client 127.0.0.1 10809 /dev/nbd0     (needs the kernel nbd module)"
	@echo "Ctrl-C stops it."
	@echo
	$(BUILD)/lloop serve demo.img

check: check-deps
	$(MAKE) all
	tests/run

# measures lloop against its peers; BENCH_ARGS=--quick for a short run
bench:
	scripts/deps bench
	$(MAKE) all
	bench/run $(BENCH_ARGS)

# the libFuzzer targets, each for FUZZ_SECONDS (clang build in build-fuzz)
FUZZ_SECONDS ?= 60
fuzz: check-deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run

# the kernel test rig alone: a qemu guest with the nbd driver and swap
vm-check: check-deps
	$(MAKE) all
	tests/run vm

# swap under memory pressure in the guest, which make check skips (it
# hangs on Linux 6.12: docs/swap.md)
vm-swap: check-deps
	$(MAKE) all
	LLOOP_VM_SWAP=1 TEST_TIMEOUT=3000 tests/run vm/swap

clean:
	rm -rf build build-san build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
