#!/bin/bash
# lloop-test: engine-independent
# lloop create: sparse and preallocated images, refusals (existing file, bad
# size, stripes off Lustre), the progress bar on a terminal only, the
# fallocate-refused fall-back, clean-up after failure and SIGTERM, the lfs
# setstripe path (statfs and fallocate faked by an LD_PRELOAD shim), and a
# created image served to nbdinfo.
. "$(dirname "$0")/../interop/lib.sh"
need stat cmp script nbdinfo
need_lloop
describe "create: sparse, --preallocate, refusals, progress, fall-back, lfs, serve"

MiB=$((1024 * 1024))

# run_create OUT ERR ARGS...: lloop create with stdout and stderr to files;
# prints the exit status, never fails by itself
run_create() {
	local out=$1 err=$2 rc=0
	shift 2
	"$LLOOP" create "$@" >"$out" 2>"$err" || rc=$?
	echo "$rc"
}

blocks_bytes() {
	echo $(($(stat -c '%b' "$1") * $(stat -c '%B' "$1")))
}

log "--help and 'lloop help create' print the usage"
"$LLOOP" create --help >"$T/help" || fail "create --help exited non-zero"
grep -q '^Usage: lloop create' "$T/help" || fail "create --help: no usage line"
for o in --preallocate --stripe-count --stripe-size --quiet; do
	grep -q -- "$o" "$T/help" || fail "create --help does not list $o"
done
"$LLOOP" help create | cmp -s - "$T/help" || fail "'lloop help create' differs from --help"

log "sparse by default: the right size, no blocks"
img=$T/sparse.img
rc=$(run_create "$T/out" "$T/err" "$img" 1G)
cat "$T/err"
assert_eq "$rc" 0 "exit status of a sparse create"
assert_eq "$(stat -c '%s' "$img")" $((1024 * MiB)) "size of the sparse image"
b=$(stat -c '%b' "$img")
[ "$b" -le 64 ] || fail "sparse image has $b blocks allocated"
grep -q 'created.*sparse' "$T/err" || fail "no summary line for a sparse create"
[ ! -s "$T/out" ] || fail "create wrote to stdout: $(cat "$T/out")"

log "an existing file is refused, named, and left unchanged"
printf 'precious data\n' >"$T/precious"
sum=$(md5sum <"$T/precious")
mtime=$(stat -c '%Y.%s' "$T/precious")
rc=$(run_create "$T/out" "$T/err" "$T/precious" 16M)
cat "$T/err"
assert_eq "$rc" 1 "exit status on an existing file"
grep -q "$T/precious: the file exists; refusing to overwrite it" "$T/err" ||
	fail "refusal does not name the file"
assert_eq "$(md5sum <"$T/precious")" "$sum" "content of the existing file"
assert_eq "$(stat -c '%Y.%s' "$T/precious")" "$mtime" "mtime and size of the existing file"
rc=$(run_create "$T/out" "$T/err" --preallocate "$T/precious" 16M)
assert_eq "$rc" 1 "exit status on an existing file with --preallocate"
assert_eq "$(md5sum <"$T/precious")" "$sum" "content of the existing file (--preallocate)"
ln -s "$T/nowhere" "$T/dangling"
rc=$(run_create "$T/out" "$T/err" "$T/dangling" 16M)
assert_eq "$rc" 1 "exit status on a dangling symlink"
[ ! -e "$T/nowhere" ] || fail "create followed a dangling symlink"
rm -f "$T/precious" "$T/dangling"

log "usage errors exit 2 and create nothing"
for args in "$T/u.img 10X" "$T/u.img 0" "$T/u.img -5" "$T/u.img 9000000E" \
	"$T/u.img" "$T/u.img 1G extra" "--bogus $T/u.img 1G" \
	"--stripe-count 0 $T/u.img 1G" "--stripe-count 3001 $T/u.img 1G" \
	"--stripe-size 100K $T/u.img 1G" "--stripe-size 4G $T/u.img 1G" \
	"--stripe-count $T/u.img 1G"; do
	# shellcheck disable=SC2086 # word splitting wanted
	rc=$(run_create "$T/out" "$T/err" $args)
	assert_eq "$rc" 2 "exit status of 'create $args'"
	[ "$(wc -l <"$T/err")" = 1 ] || fail "'create $args': expected one line, got: $(cat "$T/err")"
	[ ! -e "$T/u.img" ] || fail "'create $args' made the file"
done
rc=$(run_create "$T/out" "$T/err" "$T/u.img" 10X)
grep -q 'SIZE 10X: not a size' "$T/err" || fail "bad size message: $(cat "$T/err")"

log "--stripe-count and --stripe-size are refused off Lustre"
magic=$(stat -f -c '%t' "$T")
[ "$magic" != bd00bd0 ] || skip "TMPDIR is on Lustre; this test needs another file system"
for opt in "--stripe-count 4" "--stripe-size 1M"; do
	# shellcheck disable=SC2086
	rc=$(run_create "$T/out" "$T/err" $opt "$T/s.img" 1G)
	cat "$T/err"
	assert_eq "$rc" 1 "exit status of $opt off Lustre"
	grep -q -- "^lloop: error: ${opt% *}: $T/s.img's directory is not on Lustre (statfs magic 0x$magic)" \
		"$T/err" || fail "$opt: unclear refusal off Lustre"
	[ ! -e "$T/s.img" ] || fail "$opt off Lustre made the file"
done

log "--preallocate: blocks cover the size, data reads as zeros"
img=$T/pre.img
rc=$(run_create "$T/out" "$T/err" --preallocate "$img" 200M)
cat "$T/err"
assert_eq "$rc" 0 "exit status of --preallocate"
assert_eq "$(stat -c '%s' "$img")" $((200 * MiB)) "size of the preallocated image"
[ "$(blocks_bytes "$img")" -ge $((200 * MiB)) ] ||
	fail "preallocated image has only $(blocks_bytes "$img") bytes of blocks"
cmp -n $((200 * MiB)) "$img" /dev/zero || fail "preallocated image does not read as zeros"
grep -q 'preallocated in' "$T/err" || fail "no summary line for --preallocate"
# stderr is a file: no bar ever
grep -q $'\r' "$T/err" && fail "progress bar written to a non-terminal: $(cat -A "$T/err")"
rm -f "$img"

# create_piped OUT ARGS...: lloop create with stderr into a pipe (to cat,
# which writes OUT) and stdout to /dev/null; prints the exit status.  The
# shell in between checks that fd 2 is indeed a pipe.
create_piped() {
	local out=$1
	shift
	rm -f "$T/piped.rc" "$T/notpipe"
	{
		sh -c '[ -p /dev/stderr ] || echo "stderr is no pipe" >"$0"; exec "$@"' \
			"$T/notpipe" "$LLOOP" create "$@" 2>&1 >/dev/null
		echo $? >"$T/piped.rc"
	} | cat >"$out"
	[ ! -e "$T/notpipe" ] || fail "create_piped: $(cat "$T/notpipe")"
	cat "$T/piped.rc"
}

# plain_lines FILE WHAT: FILE holds whole lines "lloop: ...", without \r
# or an escape sequence
plain_lines() {
	[ -s "$1" ] || fail "$2: nothing written"
	! grep -q $'[\r\033]' "$1" || fail "$2: a carriage return or escape: $(cat -A "$1")"
	[ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] || fail "$2: the last line is not ended"
	! grep -qv '^lloop: ' "$1" || fail "$2: a line that is not 'lloop: ...': $(cat -A "$1")"
}

log "--preallocate with stderr to a pipe: plain lines only"
rc=$(create_piped "$T/pipe" --preallocate "$img" 200M)
cat "$T/pipe"
assert_eq "$rc" 0 "exit status of --preallocate into a pipe"
plain_lines "$T/pipe" "--preallocate into a pipe"
grep -Eq "^lloop: $img: created, 200.0 MiB \($((200 * MiB)) bytes\), preallocated in " "$T/pipe" ||
	fail "no summary line through the pipe: $(cat "$T/pipe")"
[ "$(blocks_bytes "$img")" -ge $((200 * MiB)) ] || fail "the piped --preallocate did not allocate"
rm -f "$img"
# one 64 MiB chunk: no periodic line however slow the disk, only the summary
rc=$(run_create "$T/out" "$T/err" --preallocate "$img" 64M)
assert_eq "$rc" 0 "exit status of a one-chunk --preallocate"
assert_eq "$(grep -c . "$T/err")" 1 "lines written for a one-chunk --preallocate"
grep -q '%' "$T/err" && fail "progress line for a one-chunk --preallocate: $(cat "$T/err")"
rm -f "$img"

log "--quiet: nothing at all, on a file and on a terminal"
rc=$(run_create "$T/out" "$T/err" --quiet --preallocate "$T/q.img" 100M)
assert_eq "$rc" 0 "exit status of --quiet --preallocate"
[ ! -s "$T/err" ] || fail "--quiet wrote: $(cat "$T/err")"
rm -f "$T/q.img"
script -qec "$(printf '%q ' "$LLOOP" create -q --preallocate "$T/q.img" 100M)" \
	/dev/null </dev/null >"$T/tty" || fail "create --quiet under script failed"
[ ! -s "$T/tty" ] || fail "--quiet on a terminal wrote: $(cat -A "$T/tty")"
rm -f "$T/q.img"

log "progress bar under a pseudo terminal: \\r, percentage, rate, time left"
script -qec "$(printf '%q ' "$LLOOP" create --preallocate "$T/tty.img" 256M)" \
	/dev/null </dev/null >"$T/tty" || fail "create under script failed: $(cat -A "$T/tty")"
cat -A "$T/tty"
grep -q $'\r' "$T/tty" || fail "no carriage return in the terminal output"
grep -q $'\r100% \[################\]' "$T/tty" || fail "no 100% bar on the terminal"
grep -q $'\r  0% \[' "$T/tty" || fail "no 0% bar drawn at the start"
grep -Eq '100% .* [0-9.]+ [KMGTPE]iB/s ' "$T/tty" || fail "no rate on the bar"
grep -q 'left' "$T/tty" || fail "no time left on the bar"
rm -f "$T/tty.img"

log "a created image is servable: nbdinfo reports its size"
img=$T/serve.img
rc=$(run_create "$T/out" "$T/err" "$img" 48M)
assert_eq "$rc" 0 "exit status of create for serving"
start_server "$img"
assert_eq "$(nbdinfo --size "$(nbd_uri)")" $((48 * MiB)) "size served by nbdinfo"
stop_server
rm -f "$img"

# ---- faults, through an LD_PRELOAD shim on fallocate and statfs ----------
if ! command -v cc >/dev/null; then
	log "cc not installed: the fallocate-refused, failure and lfs cases are not run"
	echo "SKIP: cc not installed for the fault shim (the other cases passed)"
	exit 77
fi
cat >"$T/shim.c" <<'EOF'
/* fallocate refused, failing or slow; statfs reporting Lustre */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>

static int calls;

int fallocate(int fd, int mode, off_t off, off_t len)
{
	int (*real)(int, int, off_t, off_t) = dlsym(RTLD_NEXT, "fallocate");
	const char *how = getenv("SHIM_FALLOCATE");

	calls++;
	if (how && !strcmp(how, "eopnotsupp")) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (how && !strcmp(how, "enospc-2nd") && calls == 2) {
		errno = ENOSPC;
		return -1;
	}
	if (how && !strncmp(how, "delay-", 6)) {
		long ms = atol(how + 6);
		struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

		/* the whole delay even if a signal comes */
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return real(fd, mode, off, len);
}
int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	return fallocate(fd, mode, off, len);
}

int statfs(const char *path, struct statfs *buf)
{
	int (*real)(const char *, struct statfs *) = dlsym(RTLD_NEXT, "statfs");
	int ret = real(path, buf);

	if (ret == 0 && getenv("SHIM_LUSTRE"))
		buf->f_type = 0x0BD00BD0;
	return ret;
}
int statfs64(const char *path, struct statfs64 *buf)
{
	return statfs(path, (struct statfs *)buf);
}
EOF
cc -shared -fPIC -O1 -o "$T/shim.so" "$T/shim.c" -ldl || fail "cannot build the shim"
# a sanitized lloop wants its runtime first; the shim only wraps libc
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

# shimmed ENV... -- ARGS...: run_create with the shim and environment
shimmed() {
	local env=(LD_PRELOAD="$T/shim.so")
	while [ "$1" != -- ]; do
		env+=("$1")
		shift
	done
	shift
	local rc=0
	env "${env[@]}" "$LLOOP" create "$@" >"$T/out" 2>"$T/err" || rc=$?
	echo "$rc"
}

log "fallocate refused (EOPNOTSUPP): zeros are written instead"
img=$T/nofalloc.img
rc=$(shimmed SHIM_FALLOCATE=eopnotsupp -- --preallocate "$img" 150M)
cat "$T/err"
assert_eq "$rc" 0 "exit status with fallocate refused"
grep -q "$img: the file system refuses fallocate; writing zeros" "$T/err" ||
	fail "the fall-back to writing zeros was not said"
assert_eq "$(stat -c '%s' "$img")" $((150 * MiB)) "size with fallocate refused"
[ "$(blocks_bytes "$img")" -ge $((150 * MiB)) ] ||
	fail "written image has only $(blocks_bytes "$img") bytes of blocks"
cmp -n $((150 * MiB)) "$img" /dev/zero || fail "written image does not read as zeros"
rm -f "$img"

log "fallocate failing half-way (ENOSPC): error names the file, file removed"
rc=$(shimmed SHIM_FALLOCATE=enospc-2nd -- --preallocate "$T/full.img" 200M)
cat "$T/err"
assert_eq "$rc" 1 "exit status on ENOSPC"
grep -q "$T/full.img: --preallocate: failed at 67108864 of 209715200 bytes: No space left on device" \
	"$T/err" || fail "ENOSPC error unclear"
grep -q "$T/full.img: removed the partial file" "$T/err" || fail "removal not said"
[ ! -e "$T/full.img" ] || fail "partial file left behind after ENOSPC"

log "stderr not a terminal, a slow preallocation: plain periodic lines, no \\r"
# 5 chunks of 64 MiB, 1.5 s each: a line is due after the 4th (6 s > 5 s)
rc=$(shimmed SHIM_FALLOCATE=delay-1500 -- --preallocate "$T/slow.img" 320M)
cat "$T/err"
assert_eq "$rc" 0 "exit status of the slow preallocation"
grep -q $'\r' "$T/err" && fail "carriage return written to a non-terminal"
grep -Eq "^lloop: $T/slow.img: [0-9]+% \(.* of 320.0 MiB\), .*/s, .* left$" "$T/err" ||
	fail "no plain progress line for a 6 s preallocation"
rm -f "$T/slow.img"
# the same into a pipe: the periodic lines are the plain ones too
rc=$(LD_PRELOAD="$T/shim.so" SHIM_FALLOCATE=delay-1500 create_piped "$T/pipe" \
	--preallocate "$T/slow.img" 320M)
cat "$T/pipe"
assert_eq "$rc" 0 "exit status of the slow preallocation into a pipe"
plain_lines "$T/pipe" "a slow --preallocate into a pipe"
grep -Eq "^lloop: $T/slow.img: [0-9]+% \(.* of 320.0 MiB\), .*/s, .* left$" "$T/pipe" ||
	fail "no plain progress line through the pipe for a 6 s preallocation"
grep -q "^lloop: $T/slow.img: created, .* preallocated in " "$T/pipe" ||
	fail "no summary line through the pipe"
rm -f "$T/slow.img"

# SIGTERM: a background job of a script starts with SIGINT ignored, and
# lloop rightly keeps a signal ignored at start ignored
log "SIGTERM during preallocation: the partial file is removed"
env LD_PRELOAD="$T/shim.so" SHIM_FALLOCATE=delay-500 "$LLOOP" create --preallocate \
	"$T/int.img" 2G >"$T/out" 2>"$T/err" &
pid=$!
track_pid "$pid"
for ((i = 0; i < 100; i++)); do
	[ -e "$T/int.img" ] && break
	sleep 0.1
done
[ -e "$T/int.img" ] || fail "the image did not appear"
sleep 0.7
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
cat "$T/err"
assert_eq "$rc" 1 "exit status after SIGTERM"
grep -q "$T/int.img: interrupted" "$T/err" || fail "interruption not said"
[ ! -e "$T/int.img" ] || fail "partial file left behind after SIGTERM"

log "Lustre (faked): lfs setstripe runs first, without a shell"
mkdir "$T/bin"
cat >"$T/bin/lfs" <<EOF
#!/bin/bash
printf '%s\n' "\$*" >>"$T/lfs.log"
[ "\$1" = setstripe ] || exit 3
[ -z "\${LFS_FAIL:-}" ] || { : >"\${!#}"; echo "lfs: fake failure" >&2; exit 1; }
: >"\${!#}"
EOF
chmod +x "$T/bin/lfs"
img=$T/lustre.img
rc=$(shimmed SHIM_LUSTRE=1 PATH="$T/bin:$PATH" -- --stripe-count 4 --stripe-size 1M "$img" 64M)
cat "$T/err"
assert_eq "$rc" 0 "exit status with lfs"
assert_eq "$(cat "$T/lfs.log")" "setstripe -c 4 -S 1048576 $img" "lfs arguments"
assert_eq "$(stat -c '%s' "$img")" $((64 * MiB)) "size after lfs setstripe"
rm -f "$img" "$T/lfs.log"
rc=$(shimmed SHIM_LUSTRE=1 PATH="$T/bin:$PATH" -- --stripe-count -1 --preallocate "$img" 64M)
assert_eq "$rc" 0 "exit status with --stripe-count -1 --preallocate"
assert_eq "$(cat "$T/lfs.log")" "setstripe -c -1 $img" "lfs arguments for -1"
[ "$(blocks_bytes "$img")" -ge $((64 * MiB)) ] || fail "not preallocated after lfs"
rm -f "$img" "$T/lfs.log"

log "Lustre (faked), lfs fails after making the file: the file is removed"
rc=$(shimmed SHIM_LUSTRE=1 LFS_FAIL=1 PATH="$T/bin:$PATH" -- --stripe-size 4M "$img" 64M)
cat "$T/err"
assert_eq "$rc" 1 "exit status when lfs fails"
grep -q "lfs: fake failure" "$T/err" || fail "lfs's own message was not passed on"
grep -q "$img: --stripe-count/--stripe-size: .*lfs setstripe' exited with status 1" "$T/err" ||
	fail "lfs failure not said"
[ ! -e "$img" ] || fail "file left behind after lfs failed"
rm -f "$T/lfs.log"

log "Lustre (faked) without lfs on PATH: one clear line"
mkdir "$T/empty"
rc=$(shimmed SHIM_LUSTRE=1 PATH="$T/empty" -- --stripe-count 2 "$img" 64M)
cat "$T/err"
assert_eq "$rc" 1 "exit status without lfs"
grep -q "^lloop: error: --stripe-count: $img's directory is on Lustre but 'lfs' is not on PATH" \
	"$T/err" || fail "missing lfs not said"
[ ! -e "$img" ] || fail "file made without lfs"
echo "PASS"
