#!/usr/bin/env bash
# lloop-test: engine-independent (the guest script runs both engines)
# lloop-timeout: 420
# The memory protections where they can take effect: in a guest, as root
# with every capability, PR_SET_IO_FLUSHER reaches every worker and
# helper thread, oom_score_adj is -1000 and the pools are locked
# (tests/memory/io_flusher.sh skips on this host for want of
# CAP_SYS_RESOURCE).
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/vm_lib.sh"
describe "IO_FLUSHER, oom_score_adj -1000 and mlock in a guest with CAP_SYS_RESOURCE"
vm_setup
vm_initramfs memsafe.sh nbd virtio_blk
truncate -s 64M "$T/disk.img"
vm_boot 512 300 -drive "file=$T/disk.img,format=raw,if=virtio,cache=unsafe" ||
	fail "the guest test failed"
