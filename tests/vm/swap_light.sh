#!/usr/bin/env bash
# lloop-test: engine-independent (the daemon's default engine, io_uring)
# lloop-timeout: 600
# Swap through lloop attach (FUSE + loop) under light pressure, in a
# 256 MiB guest: one process writes and verifies 230 MiB (1.07x the
# guest's usable RAM), so pages go out through lloop and come back.  Every
# page must verify and /proc/vmstat must show swap used.  The heavy runs
# (vm/swap, 'make vm-swap') hang on Linux 6.12: docs/swap.md says where.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/vm_lib.sh"
describe "swap through lloop attach under light memory pressure, in a guest"
vm_setup
vm_initramfs swap.sh loop virtio_blk
truncate -s 1G "$T/disk.img"
VM_APPEND="lloop_frontend=fuse lloop_protect=1 lloop_hog=230 lloop_hogs=1 lloop_watchdog=420" \
	vm_boot 256 480 -drive "file=$T/disk.img,format=raw,if=virtio,cache=unsafe" ||
	fail "swap through lloop attach failed in the guest"
grep '^# RESULT' "$VM_CONSOLE.txt"
