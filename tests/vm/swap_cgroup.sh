#!/usr/bin/env bash
# lloop-test: engine-independent (the daemon's default engine, io_uring)
# lloop-timeout: 600
# Swap through lloop attach (FUSE + loop) under light pressure, in a
# 256 MiB guest: one process writes and verifies 200 MiB (0.93x the
# guest's usable RAM; beside lloop's 64 MiB of locked buffers nearly all of
# it goes out: about 52,000 pages each way), so pages go out through lloop
# and come back.  230 MiB hung once in about ten runs on a loaded host, in
# the FUSE client's own allocation (docs/swap.md): this is the light test.  Every
# page must verify and /proc/vmstat must show swap used.  The heavy runs
# (vm/swap, 'make vm-swap') hang on Linux 6.12: docs/swap.md says where.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/vm_lib.sh"
describe "swap through lloop attach under light memory pressure, in a guest"
vm_setup
vm_initramfs swap.sh loop virtio_blk
truncate -s 1G "$T/disk.img"
VM_APPEND="lloop_frontend=fuse lloop_protect=1 lloop_hog=200 lloop_hogs=1 lloop_watchdog=420" \
	vm_boot 256 480 -drive "file=$T/disk.img,format=raw,if=virtio,cache=unsafe" ||
	fail "swap through lloop attach failed in the guest"
grep '^# RESULT' "$VM_CONSOLE.txt"
