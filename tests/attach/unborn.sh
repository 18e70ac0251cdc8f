#!/usr/bin/env bash
# lloop-test: engine-independent (runtime files only; no I/O path)
# A daemon killed before it wrote its state leaves a socket, a mount point
# and a log that no state names.  lloop list sweeps those of a dead PID,
# and leaves alone those of a live one (a daemon still starting).
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "the files of a daemon killed before it wrote its state"

mkdir -p "$RUN/attach"
# a PID that is surely dead: a child of ours, reaped
sh -c 'exit 0' &
DEAD=$!
wait "$DEAD"
sleep 300 &
LIVE=$!
track_pid "$LIVE"
for p in "$DEAD" "$LIVE"; do
	for ext in img sock log; do
		: >"$RUN/attach/$p.$ext"
	done
done
$LLOOP list >"$T/list" || fail "lloop list failed"
for ext in img sock log; do
	[ ! -e "$RUN/attach/$DEAD.$ext" ] ||
		fail "$DEAD.$ext of a dead, stateless daemon is still there"
	[ -e "$RUN/attach/$LIVE.$ext" ] ||
		fail "$LIVE.$ext of a live daemon (still starting) was removed"
done
[ ! -s "$T/list" ] || fail "lloop list shows something: $(cat "$T/list")"
rm -f "$RUN/attach/$LIVE".{img,sock,log}
kill "$LIVE"
wait "$LIVE" 2>/dev/null || :
exit 0
