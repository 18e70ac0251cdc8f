# The kernel nbd frontend: lloop attach --frontend nbd on /dev/vda, with
# both engines; ext4 on it; the ioctl fall-back; and the guest's own
# nbd-client over TCP against lloop serve.
. /bin/tap.sh
plan 28
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
	sh -c "! timeout 60 dd if=$dev of=/dev/null bs=4k count=1 iflag=direct"
check "SIGKILLed daemon: lloop list says it died" \
	sh -c "lloop list | grep '^$dev ' | grep -q 'daemon died'"
check "SIGKILLed daemon: lloop detach cleans up" lloop detach "$dev"
check "SIGKILLed daemon: $dev is disconnected, nothing listed" \
	sh -c "! test -e /sys/block/$n/pid && test -z \"\$(lloop list)\""

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
