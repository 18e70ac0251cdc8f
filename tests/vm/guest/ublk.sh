# The ublk frontend: lloop attach --frontend ublk on /dev/vda; data, a
# file system, discard, read-only, 512-byte sectors, a killed daemon.
. /bin/tap.sh
. /bin/held.sh
plan 53
watchdog 400
IMG=/dev/vda

# attach [OPTIONS...]: prints the device
attach_ublk() {
	lloop attach --frontend ublk --buffer-memory 8M "$@" 2>/tmp/attach.err
}

dev=$(attach_ublk "$IMG") || sed 's/^/# /' /tmp/attach.err
check "attach --frontend ublk gives a block device ($dev)" test -b "$dev"
n=${dev#/dev/}
check "lloop list shows $dev on the ublk path" \
	sh -c "lloop list | grep '^$dev ' | grep -q ' ublk '"
check "$dev has the image's size" \
	test "$(blockdev --getsize64 "$dev")" = "$(blockdev --getsize64 $IMG)"
check "$dev has 4096-byte logical blocks" \
	test "$(cat /sys/block/$n/queue/logical_block_size)" = 4096
diag "$n: max_sectors_kb $(cat /sys/block/$n/queue/max_sectors_kb), write cache: $(cat /sys/block/$n/queue/write_cache), discard max $(cat /sys/block/$n/queue/discard_max_bytes)"
# 8 MiB of random data at 1 MiB, through the device, read back cold
dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null
dd if=/tmp/pat of=/tmp/pat.tail bs=1M skip=4 2>/dev/null
dd if=/tmp/pat of=/tmp/pat.512 bs=512 count=1 2>/dev/null
dd if=/tmp/pat of=/tmp/pat.4k bs=4096 count=1 2>/dev/null
dd if=/tmp/pat of="$dev" bs=1M seek=1 conv=fsync 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
check "what was written through $dev reads back (direct)" \
	sh -c "dd if=$dev bs=1M skip=1 count=8 iflag=direct 2>/dev/null | cmp - /tmp/pat"
check "and is on the image itself" \
	sh -c "dd if=$IMG bs=1M skip=1 count=8 iflag=direct 2>/dev/null | cmp - /tmp/pat"
# FUA: the device takes writes with FUA.  An O_DSYNC direct write comes
# to lloop as a write with FUA, then a flush (the kernel's fsync of the
# device).  /dev/vda, which has no FUA of its own, must see a flush for
# each: after the write (RWF_DSYNC), and for the fsync (fdatasync).  A
# lost FUA leaves only the second.
flushes() {
	awk '$3 == "vda" { print $19 }' /proc/diskstats
}
f0=$(flushes)
/usr/bin/dd if=/tmp/pat of="$dev" bs=4k count=16 seek=16 oflag=direct,dsync 2>/dev/null
f1=$(flushes)
check "16 O_DSYNC writes through $dev: the disk under it flushed twice for each ($f0 -> $f1)" \
	test $((f1 - f0)) -ge 32
check "lloop detach $dev" lloop detach "$dev"
check "$dev is gone and nothing is listed" \
	sh -c "! test -e $dev && ! test -e /sys/block/$n && test -z \"\$(lloop list)\""

# START_DEV given up on (LLOOP_UBLK_START_MS=0: at once), while it may
# still be with the driver: one error, and the added device deleted
t0=$(date +%s)
check "an attach whose START_DEV times out fails, saying so" \
	sh -c "! LLOOP_UBLK_START_MS=0 lloop attach --frontend ublk --buffer-memory 8M $IMG 2>/tmp/e && grep -q 'START_DEV' /tmp/e"
sed 's/^/# /' /tmp/e
gone=no
for i in $(seq 50); do
	if ! ls /dev | grep -q '^ublk[bc][0-9]' && ! ls /sys/block | grep -q '^ublkb' &&
		! pgrep -f 'lloop attach' >/dev/null; then
		gone=yes
		break
	fi
	sleep 0.2
done
diag "failed attach and clean-up took $(($(date +%s) - t0)) s"
check "and leaves no ublk device, daemon or attachment behind" \
	sh -c "test $gone = yes && test -z \"\$(lloop list)\""
ls /dev /sys/block | grep '^ublk[bc][0-9]' | sed 's/^/# left: /'

# the threads engine cannot carry io_uring commands: refused, not hung
check "attach --frontend ublk --engine threads is refused" \
	sh -c "! lloop attach --frontend ublk --engine threads $IMG 2>/tmp/e; grep -q 'io_uring engine' /tmp/e"

# a file system: mkfs, files, fsck, and the files on the image itself
dev=$(attach_ublk "$IMG")
mkdir -p /mnt/a
check "mkfs.ext4 on $dev" /usr/bin/mke2fs -q -F -t ext4 "$dev"
check "mount ext4 from $dev" mount -t ext4 "$dev" /mnt/a
for i in 1 2 3 4 5; do
	dd if=/dev/urandom of=/mnt/a/f$i bs=64k count=$((i * 7)) 2>/dev/null
done
(cd /mnt/a && md5sum f*) >/tmp/sums
check "detach refuses while mounted" sh -c "! lloop detach $dev"
umount /mnt/a
check "e2fsck finds $dev clean" /usr/bin/e2fsck -fn "$dev"
check "detach after umount" lloop detach "$dev"
check "the files read back from the image itself" \
	sh -c "mount -t ext4 -o ro $IMG /mnt/a && cd /mnt/a && md5sum -c /tmp/sums >/dev/null; r=\$?; cd /; umount /mnt/a; exit \$r"

# discard and write-zeroes reach the backend (a RAM disk: holes read 0)
dev=$(attach_ublk memory:64M) || sed 's/^/# /' /tmp/attach.err
dd if=/tmp/pat of="$dev" bs=1M conv=fsync 2>/dev/null
check "memory:64M on $dev: blkdiscard of the first 4 MiB" \
	blkdiscard -o 0 -l 4194304 "$dev"
check "the discarded range reads as zeros, the rest as written" \
	sh -c "dd if=$dev bs=1M count=4 iflag=direct 2>/dev/null | cmp - /dev/zero 2>&1 | grep -q EOF && dd if=$dev bs=1M skip=4 count=4 iflag=direct 2>/dev/null | cmp - /tmp/pat.tail"
check "detach the RAM disk" lloop detach "$dev"

# --queue-depth below the driver's 64 tags: the device takes that many
dev=$(attach_ublk --queue-depth 16 memory:16M) || sed 's/^/# /' /tmp/attach.err
check "attach --queue-depth 16 gives $dev, which reads" \
	sh -c "test -b '$dev' && dd if=$dev of=/dev/null bs=1M count=16 iflag=direct 2>/dev/null"
diag "${dev#/dev/}: nr_requests $(cat /sys/block/${dev#/dev/}/queue/nr_requests 2>&1), scheduler $(cat /sys/block/${dev#/dev/}/queue/scheduler 2>&1)"
check "detach $dev" lloop detach "$dev"

# the block layer reads some errors as more than a failure (EAGAIN:
# "try again without waiting"): a backend's EAGAIN reaches a reader as EIO
dev=$(attach_ublk --inject-fault read:EAGAIN:1 memory:16M) || sed 's/^/# /' /tmp/attach.err
check "a read the backend fails with EAGAIN fails with EIO on $dev" \
	sh -c "! dd if=$dev of=/dev/null bs=4096 count=1 iflag=direct 2>/tmp/e; sed 's/^/# /' /tmp/e; grep -q 'Input/output error' /tmp/e"
check "detach $dev" lloop detach "$dev"

# read-only: the kernel refuses writes
dev=$(attach_ublk --read-only "$IMG")
check "--read-only: $dev is read-only" \
	test "$(blockdev --getro "$dev")" = 1
check "--read-only: a write fails" \
	sh -c "! dd if=/tmp/pat of=$dev bs=1M count=1 oflag=direct 2>/dev/null"
check "--read-only: fsync of the device succeeds" sync "$dev"
check "--read-only: detach" lloop detach "$dev"

# 512-byte sectors
dev=$(attach_ublk --sector-size 512 "$IMG")
check "--sector-size 512: logical blocks of 512" \
	test "$(cat /sys/block/${dev#/dev/}/queue/logical_block_size)" = 512
check "--sector-size 512: a 512-byte direct write reads back" \
	sh -c "dd if=/tmp/pat of=$dev bs=512 count=1 seek=7 oflag=direct 2>/dev/null && dd if=$dev bs=512 count=1 skip=7 iflag=direct 2>/dev/null | cmp - /tmp/pat.512"
check "--sector-size 512: detach" lloop detach "$dev"
# on a disk of 4096-byte sectors (/dev/vdb): refused, and nothing is left;
# 4096 works
check "--sector-size 512 on a disk of 4096-byte sectors: refused, saying why" \
	sh -c "! lloop attach --frontend ublk --buffer-memory 8M --sector-size 512 /dev/vdb 2>/tmp/e4k && grep -q 'aligned to 4096 bytes' /tmp/e4k && test -z \"\$(lloop list)\""
dev=$(attach_ublk /dev/vdb)
check "sector size 4096 on /dev/vdb: a 4096-byte direct write reads back" \
	sh -c "dd if=/tmp/pat of=$dev bs=4096 count=1 seek=3 oflag=direct 2>/dev/null && dd if=$dev bs=4096 count=1 skip=3 iflag=direct 2>/dev/null | cmp - /tmp/pat.4k"
check "/dev/vdb: detach" lloop detach "$dev"
# write-zeroes with NOUNMAP (fallocate -z) keeps the image's blocks
# allocated; a plain discard frees them
/usr/bin/mke2fs -q -F -t ext4 /dev/vdb && mount -t ext4 /dev/vdb /mnt/a &&
	/usr/bin/dd if=/dev/zero of=/mnt/a/img bs=1M count=16 conv=fsync 2>/dev/null ||
	diag "could not make an image file on /dev/vdb"
dev=$(attach_ublk /mnt/a/img)
b0=$(stat -c %b /mnt/a/img)
/usr/bin/fallocate -z -o 4194304 -l 4194304 "$dev"
b1=$(stat -c %b /mnt/a/img)
check "fallocate -z on $dev keeps the image's blocks ($b0 -> $b1)" test "$b1" = "$b0"
blkdiscard -o 4194304 -l 4194304 "$dev"
b2=$(stat -c %b /mnt/a/img)
check "blkdiscard of the same range frees them ($b1 -> $b2)" test "$b2" -lt "$b1"
check "an image file on ext4: detach" lloop detach "$dev"
umount /mnt/a

# a process holds the device open (not mounted): detach is lazy (held.sh)
dev=$(attach_ublk "$IMG")
check_held_detach "$dev" "/sys/block/${dev#/dev/}" deleted

# a dead daemon's record naming a ublk number that a live daemon has
# now (what a number used again leaves): detach cleans the record up and
# leaves the live daemon's device alone
dev=$(attach_ublk "$IMG")
n=${dev#/dev/}
pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
dead=$(sh -c 'echo $$')
sed "s|^image=.*|image=/tmp/ghost.img|; s|^pid=.*|pid=$dead|" \
	"/run/lloop/attach/$pid.state" >"/run/lloop/attach/$dead.state"
check "detach of a dead daemon's record naming $dev, which pid $pid has now" \
	sh -c "lloop detach /tmp/ghost.img 2>/tmp/e; r=\$?; sed 's/^/# /' /tmp/e; test \$r = 0 && grep -q 'another daemon (pid $pid)' /tmp/e"
check "leaves $dev there, serving" \
	sh -c "test -e /sys/block/$n && dd if=$dev of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null"
check "and it detaches" lloop detach "$dev"

# a daemon killed with SIGKILL: I/O fails rather than hangs, and detach
# deletes the device
dev=$(attach_ublk "$IMG")
n=${dev#/dev/}
pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
kill -9 "$pid"
sleep 1
check "SIGKILLed daemon: reading $dev fails, does not hang" \
	sh -c "timeout 60 dd if=$dev of=/dev/null bs=4k count=1 iflag=direct; r=\$?; test \$r != 0 -a \$r -lt 124"
check "SIGKILLed daemon: lloop detach cleans up" lloop detach "$dev"
check "SIGKILLed daemon: $dev is deleted, nothing listed" \
	sh -c "! test -e /sys/block/$n && test -z \"\$(lloop list)\""
# a SIGKILLed daemon whose device is mounted: the driver stops the disk
# when the daemon dies; detach deletes the device without waiting for the
# unmount (DEL_DEV would wait for it), and it is gone after the unmount
dev=$(attach_ublk "$IMG")
n=${dev#/dev/}
pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
check "mkfs.ext4 and mount $dev" \
	sh -c "/usr/bin/mke2fs -q -F -t ext4 $dev && mount -t ext4 $dev /mnt/a"
kill -9 "$pid"
sleep 1
check "SIGKILLed daemon, $dev mounted: detach returns" timeout 30 lloop detach "$dev"
umount /mnt/a 2>/dev/null
check "after the umount, $dev is gone and nothing is listed" \
	sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do test -e /sys/block/$n || break; sleep 1; done; ! test -e /sys/block/$n && test -z \"\$(lloop list)\""
# held open by a process: detach does not wait for it, and the device
# goes when the process closes it
dev=$(attach_ublk "$IMG")
n=${dev#/dev/}
pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
sleep 300 <"$dev" &
holder=$!
kill -9 "$pid"
sleep 1
check "SIGKILLed daemon, $dev held open: detach returns" timeout 30 lloop detach "$dev"
kill "$holder"
check "$dev goes when its holder closes it" \
	sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do test -e /sys/block/$n || exit 0; sleep 1; done; exit 1"
watchdog_stop
