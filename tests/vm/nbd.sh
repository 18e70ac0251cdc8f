#!/usr/bin/env bash
# lloop-test: engine-independent (the guest script runs both engines)
# lloop-timeout: 700
# The kernel nbd frontend in a qemu guest (this host has no nbd driver):
# attach --frontend nbd, ext4 on it, the ioctl fall-back, and the
# guest's nbd-client over TCP against lloop serve.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/vm_lib.sh"
describe "kernel nbd driver in a guest: attach --frontend nbd, ext4, nbd-client"
vm_setup
# nbd-client and its netlink libraries, from apt, into the cache
vm_debs nbd-client libnl-3-200 libnl-genl-3-200
VM_PROGS="mke2fs e2fsck $VM_DEBROOT/sbin/nbd-client" \
	VM_LIBPATH=$VM_DEBROOT/lib/x86_64-linux-gnu:$VM_DEBROOT/usr/lib/x86_64-linux-gnu \
	vm_initramfs nbd.sh nbd virtio_blk crc32c_generic ext4
truncate -s 256M "$T/disk.img"
vm_boot 512 600 -drive "file=$T/disk.img,format=raw,if=virtio,cache=unsafe" ||
	fail "the guest test failed"
