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

.PHONY: all deps check-deps demo check bench fuzz vm-check vm-swap clean format \
	man install uninstall

all: $(BUILD)/build.ninja $(BUILD)/lloop.1
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

# swap under memory pressure in the guest: the ublk proof that make check
# runs, and for the record the nbd, FUSE and kernel loop paths (they hang
# on Linux 6.12: docs/swap.md) and ublk without lloop's protections
vm-swap: check-deps
	$(MAKE) all
	LLOOP_VM_SWAP=1 TEST_TIMEOUT=3000 tests/run vm/swap

clean:
	rm -rf build build-san build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# ---- the man page and make install --------------------------------------
# The man page is built with the binary (scdoc is a build dependency), so
# that 'sudo make install' only copies and never builds as root.
man: $(BUILD)/lloop.1

$(BUILD)/lloop.1: docs/lloop.1.scd
	@mkdir -p $(@D)
	scdoc <$< >$@.tmp && mv $@.tmp $@

# bin, not sbin: serve, create, list and stats need no privilege and the
# page is in section 1, like qemu-nbd's binary (/usr/bin); attach says
# when it needs root.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# /usr/lib/systemd/system for PREFIX=/usr; systemd also reads
# /usr/local/lib/systemd/system, so the default works too
UNITDIR ?= $(PREFIX)/lib/systemd/system
# the generator that orders lloop-attach@NAME after its image's file
# system; systemd runs those of /usr/lib and /usr/local/lib alike
GENERATORDIR ?= $(PREFIX)/lib/systemd/system-generators
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
INSTALL ?= install

# systemd/NAME.service.in -> NAME.service, whichever units exist
UNITS_IN := $(wildcard systemd/*.service.in)
UNITS := $(notdir $(UNITS_IN:.in=))
GENERATOR_IN := $(wildcard systemd/lloop-generator.in)
CONF_EXAMPLE := $(wildcard docs/lloop.conf.example)

install: $(BUILD)/lloop.1
	@test -x $(BUILD)/lloop || { \
		echo "make install: $(BUILD)/lloop is not built: run make (or" \
		     "make BUILD=$(BUILD)) first" >&2; exit 1; }
	$(INSTALL) -Dm755 $(BUILD)/lloop $(DESTDIR)$(BINDIR)/lloop
	$(INSTALL) -Dm644 $(BUILD)/lloop.1 $(DESTDIR)$(MANDIR)/man1/lloop.1
	$(INSTALL) -Dm644 completion/lloop $(DESTDIR)$(BASHCOMPDIR)/lloop
	@set -e; for u in $(UNITS_IN); do \
		n=$$(basename $$u .in); \
		echo "install $$u -> $(DESTDIR)$(UNITDIR)/$$n"; \
		$(INSTALL) -d $(DESTDIR)$(UNITDIR); \
		sed -e 's|@BINDIR@|$(BINDIR)|g' \
		    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$u \
			>$(DESTDIR)$(UNITDIR)/$$n.tmp; \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$n.tmp; \
		mv $(DESTDIR)$(UNITDIR)/$$n.tmp $(DESTDIR)$(UNITDIR)/$$n; \
	done
	@set -e; for g in $(GENERATOR_IN); do \
		echo "install $$g -> $(DESTDIR)$(GENERATORDIR)/lloop-generator"; \
		$(INSTALL) -d $(DESTDIR)$(GENERATORDIR); \
		sed -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$g \
			>$(DESTDIR)$(GENERATORDIR)/lloop-generator.tmp; \
		chmod 755 $(DESTDIR)$(GENERATORDIR)/lloop-generator.tmp; \
		mv $(DESTDIR)$(GENERATORDIR)/lloop-generator.tmp \
			$(DESTDIR)$(GENERATORDIR)/lloop-generator; \
	done
	$(if $(CONF_EXAMPLE),$(INSTALL) -Dm644 $(CONF_EXAMPLE) \
		$(DESTDIR)$(SYSCONFDIR)/lloop/lloop.conf.example)

# exactly what install put there.  Under a DESTDIR (a staging root) the
# directories left empty go too, up to DESTDIR itself; on a live system
# /usr/local/bin and the like stay, as they were there before.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lloop
	rm -f $(DESTDIR)$(MANDIR)/man1/lloop.1
	rm -f $(DESTDIR)$(BASHCOMPDIR)/lloop
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	rm -f $(DESTDIR)$(GENERATORDIR)/lloop-generator
	rm -f $(DESTDIR)$(SYSCONFDIR)/lloop/lloop.conf.example
	@rmdir $(DESTDIR)$(SYSCONFDIR)/lloop 2>/dev/null || :
	@root=$$(echo '$(DESTDIR)' | sed 's|//*|/|g; s|/$$||'); \
	[ -n "$$root" ] || exit 0; \
	for d in $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(UNITDIR) \
		 $(DESTDIR)$(GENERATORDIR) $(DESTDIR)$(SYSCONFDIR); do \
		d=$$(echo "$$d" | sed 's|//*|/|g; s|/$$||'); \
		while [ "$$d" != "$$root" ] && [ "$$d" != / ] && \
		      [ "$$d" != . ] && rmdir "$$d" 2>/dev/null; do \
			d=$$(dirname "$$d"); \
		done; \
	done
