# The kernel test rig: boots a Debian 6.12 kernel (it has nbd.ko and
# ublk_drv.ko, which this host's kernel lacks) under qemu TCG with an
# initramfs of busybox, a static lloop, the modules and a guest script
# that prints TAP on the serial console.  Source it after lib.sh:
#
#   . "$(dirname "$0")/../interop/lib.sh"
#   . "$(dirname "$0")/vm_lib.sh"
#   vm_setup                               # kernel, static lloop, busybox
#   vm_initramfs nbd.sh nbd ext4           # guest script, modules
#   vm_boot 512 300 [qemu args...]         # RAM MiB, timeout s
#
# The kernel package and the builds are cached under the build tree
# ($BUILD_DIR/vm); a second run downloads nothing.

VM_GUEST=$REPO/tests/vm/guest
BUILD_DIR=$(cd "$(dirname "$LLOOP")" && pwd)
VM_CACHE=$BUILD_DIR/vm
VM_CONSOLE=$T/console.log

vm_need() {
	# the guest gets a plain static build whatever $LLOOP is: the
	# sanitizer pass would only repeat the plain one
	"$LLOOP" --version | grep -q sanitized &&
		skip "$LLOOP is a sanitizer build; the guest runs a plain static build, which the plain pass tests"
	need qemu-system-x86_64 gcc meson ninja apt-get dpkg-deb cpio
	[ -x /bin/busybox ] || skip "busybox (busybox-static) not installed"
	case "$(ldd /bin/busybox 2>&1)" in
	*"not a dynamic executable"*) ;;
	*) skip "/bin/busybox is not the static build (busybox-static)" ;;
	esac
}

# The newest linux-image-6.12.*-amd64 apt offers, extracted once.
vm_kernel() {
	local pkg dir
	mkdir -p "$VM_CACHE"
	pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64$' |
		awk '{ print $1 }' | sort -V | tail -n 1)
	[ -n "$pkg" ] || fail "apt offers no linux-image-6.12.*-amd64 (apt-get update?)"
	dir=$VM_CACHE/$pkg
	(
		# one download at a time, whoever else runs the rig
		flock 9
		if [ ! -e "$dir/done" ]; then
			log "fetching $pkg"
			rm -rf "$dir" "$VM_CACHE"/dl
			mkdir -p "$VM_CACHE/dl" "$dir"
			(cd "$VM_CACHE/dl" && apt-get download "$pkg" >/dev/null 2>&1) ||
				fail "apt-get download $pkg failed"
			dpkg-deb -x "$VM_CACHE"/dl/*.deb "$dir" || fail "dpkg-deb -x failed"
			rm -rf "$VM_CACHE/dl"
			touch "$dir/done"
		fi
	) 9>"$VM_CACHE/.lock" || exit 1
	VM_VMLINUZ=$(ls "$dir"/boot/vmlinuz-*)
	VM_MODDIR=$(ls -d "$dir"/lib/modules/*)
	VM_KVER=$(basename "$VM_MODDIR")
}

# lloop built static (the guest has no libraries) and the guest programs
vm_build() {
	local b=$VM_CACHE/build-static
	(
		flock 9
		# GnuTLS has no static p11-kit, librbd no static library; a
		# cache from before one of those options cannot take it: anew
		if [ -e "$b/build.ninja" ] &&
			! meson configure "$b" -Dtls=disabled -Drbd=disabled >/dev/null 2>&1; then
			rm -rf "$b"
		fi
		if [ ! -e "$b/build.ninja" ]; then
			meson setup "$b" "$REPO" -Dtests=disabled -Dtls=disabled -Drbd=disabled -Dprefer_static=true \
				-Dc_link_args=-static >"$VM_CACHE/meson.log" 2>&1 ||
				{ cat "$VM_CACHE/meson.log"; exit 1; }
		fi
		# getaddrinfo warns about static linking; numeric addresses work
		ninja -C "$b" lloop >"$VM_CACHE/ninja.log" 2>&1 ||
			{ tail -n 30 "$VM_CACHE/ninja.log"; exit 1; }
		for p in "$VM_GUEST"/*.c; do
			local out=$VM_CACHE/$(basename "$p" .c)
			[ "$out" -nt "$p" ] && continue
			gcc -static -O2 -Wall -Werror -o "$out" "$p" || exit 1
		done
	) 9>"$VM_CACHE/.build.lock" || fail "building the static lloop or the guest programs failed"
	VM_LLOOP=$b/lloop
}

vm_setup() {
	vm_need
	vm_kernel
	vm_build
}

# Modules with their dependencies, dependencies first.  The package has
# no modules.dep (depmod makes it at install): read each module's own
# "depends=" from its .modinfo.
_vm_module_order() {
	"$PY" - "$VM_MODDIR" "$@" <<'EOF'
import lzma, os, re, sys
moddir, want = sys.argv[1], sys.argv[2:]
byname = {}
for d, _, files in os.walk(moddir):
    for f in files:
        if ".ko" in f:
            name = f.split(".ko")[0].replace("-", "_")
            byname[name] = os.path.relpath(os.path.join(d, f), moddir)
def depends(path):
    p = os.path.join(moddir, path)
    data = lzma.open(p).read() if p.endswith(".xz") else open(p, "rb").read()
    m = re.search(rb"\0depends=([^\0]*)\0", data)
    return [x.decode().replace("-", "_") for x in m.group(1).split(b",") if x] if m else []
order, seen = [], set()
def visit(name):
    if name in seen:
        return
    seen.add(name)
    if name not in byname:
        sys.exit("no module %s in %s (built in?)" % (name, moddir))
    for d in depends(byname[name]):
        visit(d)
    order.append(byname[name])
for w in want:
    visit(w.replace("-", "_"))
print("\n".join(order))
EOF
}

# vm_debs PKG...: extract Debian packages (not installed on the host)
# into $VM_DEBROOT, for their programs and libraries
vm_debs() {
	VM_DEBROOT=$VM_CACHE/debroot
	(
		flock 9
		local want="$*"
		[ "$(cat "$VM_DEBROOT/.pkgs" 2>/dev/null)" = "$want" ] && exit 0
		rm -rf "$VM_DEBROOT" "$VM_CACHE/debs"
		mkdir -p "$VM_DEBROOT" "$VM_CACHE/debs"
		(cd "$VM_CACHE/debs" && apt-get download "$@" >/dev/null 2>&1) ||
			{ echo "apt-get download $* failed"; exit 1; }
		for d in "$VM_CACHE"/debs/*.deb; do
			dpkg-deb -x "$d" "$VM_DEBROOT" || exit 1
		done
		rm -rf "$VM_CACHE/debs"
		echo "$want" >"$VM_DEBROOT/.pkgs"
	) 9>"$VM_CACHE/.debs.lock" || fail "fetching $* failed"
}

# Copy a host program and the shared libraries it needs (found also in
# VM_LIBPATH).
_vm_copy_prog() {
	local root=$1 prog=$2 lib dst
	# busybox's sh runs its own applet of a name first: guest scripts
	# call these by their full path, /usr/bin/NAME
	mkdir -p "$root/usr/bin"
	cp -L "$prog" "$root/usr/bin/"
	for lib in $(LD_LIBRARY_PATH=${VM_LIBPATH:-} ldd "$prog" 2>/dev/null |
		grep -o '/[^ ]*'); do
		dst=${lib#"${VM_DEBROOT:-/nonexistent}"}
		mkdir -p "$root$(dirname "$dst")"
		cp -Ln "$lib" "$root$dst" 2>/dev/null || :
	done
}

# vm_initramfs SCRIPT MODULE...: an initramfs at $T/initrd running
# tests/vm/guest/SCRIPT as its test.  VM_PROGS may name host programs to
# copy in with their libraries, as /usr/bin/NAME (mke2fs, say).
vm_initramfs() {
	local script=$1 root=$T/root m
	shift
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,mnt,lib/modules,etc}
	cp /bin/busybox "$root/bin/busybox"
	for m in $(/bin/busybox --list); do
		[ -e "$root/bin/$m" ] || ln -s busybox "$root/bin/$m"
	done
	cp "$VM_LLOOP" "$root/bin/lloop"
	ln -s bin/busybox "$root/sbin/busybox"
	for m in "$VM_CACHE"/*; do
		[ -f "$m" ] && [ -x "$m" ] || continue
		rm -f "$root/bin/$(basename "$m")"
		cp "$m" "$root/bin/"
	done
	for m in ${VM_PROGS:-}; do
		_vm_copy_prog "$root" "$(command -v "$m")" || fail "cannot copy $m"
	done
	: >"$root/lib/modules/order"
	if [ $# -gt 0 ]; then
		_vm_module_order "$@" >"$T/modorder" || fail "module list"
		while read -r m; do
			cp "$VM_MODDIR/$m" "$root/lib/modules/"
			basename "$m" >>"$root/lib/modules/order"
		done <"$T/modorder"
	fi
	[ -e /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"
	cp "$VM_GUEST/init" "$root/init"
	cp "$VM_GUEST/tap.sh" "$VM_GUEST/held.sh" "$root/bin/"
	cp "$VM_GUEST/$script" "$root/bin/test.sh"
	chmod +x "$root/init" "$root/bin/test.sh"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$T/initrd" ||
		fail "cpio failed"
	rm -rf "$root"
}

# vm_boot MEM_MIB TIMEOUT_S [QEMU_ARGS...]: boot, wait, check the TAP.
# VM_APPEND adds to the kernel command line (the guest script sees it in
# /proc/cmdline).
vm_boot() {
	local mem=$1 timeout=$2 rc start try
	shift 2
	for try in 1 2; do
		rc=0
		start=$(date +%s)
		log "booting: ${mem} MiB, timeout ${timeout} s"
		timeout -k 5 "$timeout" qemu-system-x86_64 -accel tcg -nographic \
			-no-reboot -m "$mem" -smp 2 -cpu max -kernel "$VM_VMLINUZ" \
			-initrd "$T/initrd" -nic none \
			-append "console=ttyS0 panic=-1 loglevel=4 ${VM_APPEND:-}" \
			"$@" </dev/null >"$VM_CONSOLE" 2>&1 || rc=$?
		tr -d '\r' <"$VM_CONSOLE" >"$VM_CONSOLE.txt"
		# the whole console, for a post-mortem (the log shows its tail)
		VM_BOOTS=$((${VM_BOOTS:-0} + 1))
		mkdir -p "$BUILD_DIR/test-logs"
		cp "$VM_CONSOLE.txt" "$BUILD_DIR/test-logs/vm-$TEST_NAME.$VM_BOOTS.console.txt"
		log "console: $BUILD_DIR/test-logs/vm-$TEST_NAME.$VM_BOOTS.console.txt"
		log "guest ran $(($(date +%s) - start)) s (qemu status $rc)"
		# A kernel that dies before our init has printed a line never
		# ran any of the test: under TCG, code patching at boot (static
		# keys, alternatives) has left a stray int3 behind, seen as an
		# oops in sched_clock_cpu 2.4 s in.  Boot once more; a death
		# after init started is the test's to judge.
		if [ "$try" = 1 ] && ! grep -q '^# guest: ' "$VM_CONSOLE.txt" &&
			grep -q 'Kernel panic' "$VM_CONSOLE.txt"; then
			echo "--- the guest kernel died while booting, before init ran:"
			grep -m 3 -E 'Oops|RIP|Kernel panic' "$VM_CONSOLE.txt"
			echo "--- booting it once more"
			continue
		fi
		break
	done
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "--- last 50 console lines:"
		tail -n 50 "$VM_CONSOLE.txt"
		VM_TIMED_OUT=1
		return 1
	fi
	VM_TIMED_OUT=0
	vm_check_tap "$VM_CONSOLE.txt"
}

# The guest's TAP: a plan, that many results, none "not ok".
vm_check_tap() {
	"$PY" - "$1" <<'EOF'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
plan, results, bad = None, [], []
for l in lines:
    m = re.match(r"^1\.\.(\d+)\s*$", l)
    if m:
        plan = int(m.group(1))
    m = re.match(r"^(not ok|ok) (\d+)\b(.*)$", l)
    if m:
        results.append(int(m.group(2)))
        if m.group(1) == "not ok":
            bad.append(l)
        print(l)
    elif l.startswith("# "):
        print(l)
err = []
if plan is None:
    err.append("the guest printed no TAP plan")
elif len(results) != plan:
    err.append("plan 1..%d but %d results" % (plan, len(results)))
err += ["failed in the guest: " + b for b in bad]
if err:
    print("\n".join(err))
    print("--- last 50 console lines:")
    print("\n".join(lines[-50:]))
    sys.exit(1)
EOF
}
