#!/usr/bin/env bash
# ext4 on an attached sparse 1 GiB file: 200 MB in 4 large files and 2,000
# small ones survive umount, drop_caches and mount; e2fsck -fn is clean; the
# image then reads the same through the kernel loop driver.  On both I/O
# paths: the default (FUSE passthrough) and --no-passthrough.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "ext4 round trip through lloop attach, then the kernel loop driver"
fs_roundtrip ext4
