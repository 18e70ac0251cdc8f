#!/usr/bin/env bash
# xfs on an attached sparse 1 GiB file: 200 MB in 4 large files and 2,000
# small ones survive umount, drop_caches and mount; xfs_repair -n is clean;
# the image then reads the same through the kernel loop driver.  On both
# I/O paths: the default (FUSE passthrough) and --no-passthrough.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "xfs round trip through lloop attach, then the kernel loop driver"
fs_roundtrip xfs
