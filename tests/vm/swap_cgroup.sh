#!/usr/bin/env bash
# lloop-test: engine-independent (the daemon's default engine, io_uring)
# lloop-timeout: 900
# Swap on lloop attach for jobs that a memory cgroup confines, as a batch
# system confines them (Slurm's ConstrainRAMSpace): in a 256 MiB guest, 4
# processes in a cgroup of 96 MiB write and verify 4 x 192 MiB (3x the
# guest's RAM) through swap on the FUSE + loop frontend, then on the
# kernel nbd frontend.  The pressure is the cgroup's, and the rest of the
# guest keeps the free memory that the kernel's own allocations on these
# two swap paths need: under pressure on the whole machine they hang on
# Linux 6.12 (docs/swap.md), and vm/swap proves ublk there.  Every page
# must verify, the daemon must live, swap must really be used, and lloop's
# workers must make no io_uring allocation while they serve it.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/vm_lib.sh"
describe "swap on lloop attach (FUSE + loop, nbd) for a job in a memory cgroup, in a guest"
vm_setup
vm_initramfs swap.sh nbd loop virtio_blk
HOG=${LLOOP_VM_HOG_MIB:-192}
HOGS=${LLOOP_VM_HOGS:-4}
CG=${LLOOP_VM_CGROUP_MIB:-96}
rc=0
for fe in ${LLOOP_VM_FRONTENDS:-fuse nbd}; do
	truncate -s 0 "$T/disk.img"
	truncate -s 2G "$T/disk.img"
	VM_APPEND="lloop_frontend=$fe lloop_protect=1 lloop_hog=$HOG lloop_hogs=$HOGS lloop_cgroup=$CG cgroup.memory=nokmem,nosocket lloop_watchdog=420" \
		vm_boot 256 480 -drive "file=$T/disk.img,format=raw,if=virtio,cache=unsafe" ||
		{ echo "FAILED: swap on the $fe frontend for a job in a memory cgroup"; rc=1; }
	grep '^# RESULT' "$VM_CONSOLE.txt" || :
done
exit $rc
