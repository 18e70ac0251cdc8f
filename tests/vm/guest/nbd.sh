# The kernel nbd frontend: lloop attach --frontend nbd on /dev/vda, with
# both engines; ext4 on it; the ioctl fall-back; and the guest's own
# nbd-client over TCP against lloop serve.
. /bin/tap.sh
. /bin/held.sh
plan 39
watchdog 400
IMG=/dev/vda
cat /proc/partitions | sed 's/^/# /'

# attach ENGINE [ENV]: prints the device
attach_nbd() {
	env $2 lloop attach --frontend nbd --engine "$1" --buffer-memory 8M \
		"$IMG" 2>/tmp/attach.err
}

for engine in uring threads; do
	dev=$(attach_nbd $engine) || cat /tmp/attach.err | sed 's/^/# /'
	check "attach --frontend nbd --engine $engine gives a device ($dev)" \
		test -b "$dev"
	n=${dev#/dev/}
	check "$engine: lloop list shows $dev on the nbd path" \
		sh -c "lloop list | grep '^$dev ' | grep -q ' nbd '"
	check "$engine: $dev has the image's size" \
		test "$(blockdev --getsize64 "$dev")" = "$(blockdev --getsize64 $IMG)"
	diag "$n: max_sectors_kb $(cat /sys/block/$n/queue/max_sectors_kb), logical block $(cat /sys/block/$n/queue/logical_block_size)"
	# 8 MiB of random data at 1 MiB, through the device, read back cold
	dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null
	dd if=/tmp/pat of="$dev" bs=1M seek=1 conv=fsync 2>/dev/null
	echo 3 >/proc/sys/vm/drop_caches
	blockdev --flushbufs "$dev"
	check "$engine: what was written through $dev reads back" \
		sh -c "dd if=$dev bs=1M skip=1 count=8 2>/dev/null | cmp - /tmp/pat"
	check "$engine: lloop detach $dev" lloop detach "$dev"
	check "$engine: the image holds the data after detach" \
		sh -c "dd if=$IMG bs=1M skip=1 count=8 2>/dev/null | cmp - /tmp/pat"
	check "$engine: $dev is disconnected and nothing is listed" \
		sh -c "! test -e /sys/block/$n/pid && test -z \"\$(lloop list)\""
done

# a process holds the device open (not mounted): detach is lazy (held.sh)
dev=$(attach_nbd uring)
check_held_detach "$dev" "/sys/block/${dev#/dev/}/pid" disconnected

# a file system: mkfs, files, fsck, and the files on the image itself
dev=$(attach_nbd uring)
mkdir -p /mnt/a
check "mkfs.ext4 on $dev" /usr/bin/mke2fs -q -F -t ext4 "$dev"
check "mount ext4 from $dev" mount -t ext4 "$dev" /mnt/a
for i in 1 2 3 4 5; do
	dd if=/dev/urandom of=/mnt/a/f$i bs=64k count=$((i * 7)) 2>/dev/null
done
(cd /mnt/a && md5sum f*) >/tmp/sums
umount /mnt/a
check "e2fsck finds $dev clean" /usr/bin/e2fsck -fn "$dev"
check "detach after umount" lloop detach "$dev"
check "the files read back from the image itself" \
	sh -c "mount -t ext4 -o ro $IMG /mnt/a && cd /mnt/a && md5sum -c /tmp/sums >/dev/null; r=\$?; cd /; umount /mnt/a; exit \$r"

# the ioctl interface, as on kernels without the netlink family
dev=$(attach_nbd uring LLOOP_NBD_IOCTL=1) || sed 's/^/# /' /tmp/attach.err
check "ioctl fall-back: attach gives $dev" test -b "$dev"
# the driver sizes the device only when NBD_DO_IT starts it, on a thread
# of the daemon's: attach returns after that
check "ioctl fall-back: $dev has the image's size when attach returns" \
	test "$(blockdev --getsize64 "$dev")" = "$(blockdev --getsize64 $IMG)"
check "ioctl fall-back: data reads back" \
	sh -c "dd if=/tmp/pat of=$dev bs=1M conv=fsync 2>/dev/null && echo 3 >/proc/sys/vm/drop_caches && dd if=$dev bs=1M count=8 2>/dev/null | cmp - /tmp/pat"
check "ioctl fall-back: detach" lloop detach "$dev"

# a daemon killed with SIGKILL: I/O fails rather than hangs, and detach
# cleans up and frees the device
dev=$(attach_nbd uring)
n=${dev#/dev/}
pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
kill -9 "$pid"
sleep 1
check "SIGKILLed daemon: reading $dev fails, does not hang" \
	sh -c "timeout 60 dd if=$dev of=/dev/null bs=4k count=1 iflag=direct; r=\$?; test \$r != 0 -a \$r -lt 124"
check "SIGKILLed daemon: lloop list says it died" \
	sh -c "lloop list | grep '^$dev ' | grep -q 'daemon died'"
check "SIGKILLed daemon: lloop detach cleans up" lloop detach "$dev"
check "SIGKILLed daemon: $dev is disconnected, nothing listed" \
	sh -c "! test -e /sys/block/$n/pid && test -z \"\$(lloop list)\""

# a daemon killed with SIGKILL while its device is mounted and a write is
# in flight: detach disconnects the device (the dead socket left it
# configured, the write waiting for ever), so the write fails, the umount
# ends and the device is freed
dev=$(attach_nbd uring)
n=${dev#/dev/}
pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
/usr/bin/mke2fs -q -F -t ext4 "$dev" && mount -t ext4 "$dev" /mnt/a ||
	diag "could not mount ext4 from $dev"
kill -STOP "$pid"
dd if=/dev/zero of=/mnt/a/big bs=64k count=64 oflag=direct 2>/dev/null &
writer=$!
sleep 1
kill -9 "$pid"
sleep 1
check "SIGKILLed daemon, $dev mounted, a write in flight: detach" \
	timeout 60 lloop detach "$dev"
check "the write in flight ends" \
	sh -c "for i in \$(seq 60); do kill -0 $writer 2>/dev/null || exit 0; sleep 1; done; exit 1"
check "the umount ends" timeout 60 umount /mnt/a
check "$dev is freed, nothing listed" \
	sh -c "for i in \$(seq 10); do test -e /sys/block/$n/pid || break; sleep 1; done; ! test -e /sys/block/$n/pid && test -z \"\$(lloop list)\""

# a write-back that fails (a buffered write into a block whose writes
# fail): the flush before detach reports it, and detach must fail
dev=$(lloop attach --frontend nbd --buffer-memory 8M \
	--inject-fault write:EIO:1:2097152-2101248 "$IMG" 2>/tmp/attach.err) ||
	sed 's/^/# /' /tmp/attach.err
dd if=/tmp/pat of="$dev" bs=4096 seek=512 count=1 conv=notrunc 2>/dev/null
check "a failed write-back: detach exits 1, saying the flush failed" \
	sh -c "lloop detach $dev 2>/tmp/e; r=\$?; sed 's/^/# /' /tmp/e; test \$r = 1 && grep -q 'flush before detach failed' /tmp/e"
check "and the device is freed, nothing listed" \
	sh -c "! test -e /sys/block/${dev#/dev/}/pid && test -z \"\$(lloop list)\""

# nbd-client over TCP on the guest's loopback against lloop serve
ip link set lo up
lloop serve --listen tcp://127.0.0.1:10809 --buffer-memory 8M memory:64M \
	2>/tmp/serve.log &
SERVE=$!
sleep 1
/usr/bin/nbd-client 127.0.0.1 10809 /dev/nbd5 -N "" -b 4096 >/tmp/nc.log 2>&1 ||
	sed 's/^/# /' /tmp/nc.log
dd if=/tmp/pat of=/dev/nbd5 bs=1M conv=fsync 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
check "nbd-client over TCP: data reads back through /dev/nbd5" \
	sh -c "dd if=/dev/nbd5 bs=1M count=8 2>/dev/null | cmp - /tmp/pat"
/usr/bin/nbd-client -d /dev/nbd5 >/dev/null 2>&1
kill $SERVE
wait $SERVE
check "lloop serve exits 0 after the nbd-client session" test $? = 0
watchdog_stop
