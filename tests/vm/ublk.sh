#!/usr/bin/env bash
# lloop-test: engine-independent (ublk needs the io_uring engine)
# lloop-timeout: 700
# The ublk frontend in a qemu guest (this host has no ublk driver):
# attach --frontend ublk, data through /dev/ublkbN, ext4 on it, discard,
# read-only, 512-byte sectors (and their refusal on a disk of 4096-byte
# sectors, where direct I/O cannot take them), and a daemon killed under it.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/vm_lib.sh"
describe "ublk driver in a guest: attach --frontend ublk, ext4, discard, kill"
vm_setup
VM_PROGS="mke2fs e2fsck dd fallocate" vm_initramfs ublk.sh ublk_drv virtio_blk \
	crc32c_generic ext4
truncate -s 256M "$T/disk.img"
truncate -s 64M "$T/disk4k.img"
# fixed PCI slots: /dev/vda is disk.img, /dev/vdb the one of 4096-byte sectors
vm_boot 512 600 -drive "file=$T/disk.img,format=raw,if=none,id=d0,cache=unsafe" \
	-device virtio-blk-pci,drive=d0,addr=0x8 \
	-drive "file=$T/disk4k.img,format=raw,if=none,id=d4k,cache=unsafe" \
	-device virtio-blk-pci,drive=d4k,addr=0x9,logical_block_size=4096,physical_block_size=4096 ||
	fail "the guest test failed"
