#!/usr/bin/env bash
# lloop-test: engine-independent (the daemon's default engine, io_uring)
# lloop-timeout: 900
# Swap on lloop under memory pressure, in a 256 MiB guest: 4 processes
# write and verify 3x the guest's RAM through swap on /dev/ublkbN (the
# ublk frontend).  Every page must verify, the daemon must live, and
# /proc/vmstat must show swap really used.
#
# 'make vm-swap' (LLOOP_VM_SWAP=1) adds, for the record (docs/swap.md),
# runs whose outcome is printed, not judged: the kernel nbd and FUSE +
# loop frontends (on Linux 6.12 they hang in allocations the kernel makes
# on lloop's behalf), the kernel's own loop driver, the FUSE passthrough
# path and the kernel's loop with direct I/O on an image file on ext4
# (both hang in the kernel's bio mempool), and ublk without lloop's
# protections.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/vm_lib.sh"
describe "swap on lloop (ublk) under 3x memory pressure, in a guest"
vm_setup
VM_PROGS="mke2fs losetup" vm_initramfs swap.sh nbd loop ublk_drv virtio_blk \
	crc32c_generic ext4
HOG=${LLOOP_VM_HOG_MIB:-192}
HOGS=${LLOOP_VM_HOGS:-4}
CG=${LLOOP_VM_CGROUP_MIB:-}
# swap_boot FRONTEND PROTECT WATCHDOG_S: one guest on a fresh 2 GiB disk;
# with CG=MIB the hogs run in a memory cgroup of that limit
rc=0
swap_boot() {
	truncate -s 0 "$T/disk.img"
	truncate -s 2G "$T/disk.img"
	VM_APPEND="lloop_frontend=$1 lloop_protect=$2 lloop_hog=$HOG lloop_hogs=$HOGS ${CG:+lloop_cgroup=$CG cgroup.memory=nokmem,nosocket} lloop_watchdog=$3" \
		vm_boot 256 $(($3 + 60)) -drive "file=$T/disk.img,format=raw,if=virtio,cache=unsafe"
}
# the proof: judged
for fe in ${LLOOP_VM_FRONTENDS:-ublk}; do
	swap_boot "$fe" 1 420 || { echo "FAILED: swap on the $fe frontend"; rc=1; }
	grep '^# RESULT' "$VM_CONSOLE.txt" || :
done
# outcome RUN: how a run that is not judged ended
outcome() {
	if [ "$2" = 0 ]; then
		echo "$1: completed"
	elif [ "$VM_TIMED_OUT" = 1 ] || grep -q WATCHDOG "$VM_CONSOLE.txt"; then
		echo "$1: hung (see the blocked tasks above)"
	else
		echo "$1: failed (see above)"
	fi
	grep '^# RESULT' "$VM_CONSOLE.txt" || :
}
if [ "${LLOOP_VM_SWAP:-0}" = 1 ]; then
	for fe in nbd fuse kloop fusefile kloopfile; do
		log "for the record: the $fe frontend"
		r=0
		swap_boot "$fe" 1 420 || r=$?
		outcome "RECORD $fe" $r
	done
	log "for the record: ublk without mlock, IO_FLUSHER or oom_score_adj"
	r=0
	swap_boot ublk 0 420 || r=$?
	outcome "RECORD ublk unprotected" $r
fi
exit $rc
