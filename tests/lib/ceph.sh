# shellcheck shell=bash disable=SC2034 # the variables set here are for the sourcing test
# A throwaway one-node Ceph cluster for the rbd: tests: one ceph-mon and one
# ceph-osd on memstore, 127.0.0.1 only, free ports, cephx on, no manager (RBD
# I/O, pool creation and `rbd pool init` do not need one).  Every file it
# makes (conf, keyrings, mon store, osd data, logs, admin sockets, crash
# dumps) lives under the directory given to ceph_start; nothing reads or
# writes /etc/ceph, /var/lib/ceph, /var/run/ceph or /var/log/ceph, and no
# systemd unit is involved.  Source it after tests/interop/lib.sh:
#
#   . "$(dirname "$0")/../interop/lib.sh"
#   . "$REPO/tests/lib/ceph.sh"
#   ceph_available || skip "$CEPH_MISSING"
#   ceph_start "$T/ceph"        # fails the test (via fail) if it cannot
#   rbd create --size 64M "$CEPH_POOL/img"
#   ... lloop serve "rbd:$CEPH_POOL/img" --ceph-conf "$CEPH_CONF" --ceph-id lloop
#   ceph_stop                   # optional: the exit trap stops the daemons too
#
# The daemons are tracked with lib.sh's track_pid, so the exit trap of a
# failing test stops them (SIGTERM, then SIGKILL); ceph_stop does it at once
# and fails the test if one of them does not go away.
#
# Exported after ceph_start (CEPH_CONF is also in the environment, so every
# ceph/rbd/rados/qemu-img child finds the cluster without --conf):
#   CEPH_DIR            the directory given to ceph_start
#   CEPH_CONF           $CEPH_DIR/ceph.conf: mon_host, and for every client
#                       name the keyring $CEPH_DIR/$name.keyring, so
#                       `rbd --conf "$CEPH_CONF" --id lloop ls` works
#   CEPH_POOL           the pool, created and `rbd pool init`ed (default rbd;
#                       set CEPH_POOL before ceph_start for another name)
#   CEPH_MON_ADDR       v2 address of the monitor (127.0.0.1:PORT)
#   CEPH_MON_V1_ADDR    v1 (legacy protocol) address of the monitor
#   CEPH_ADMIN_KEYRING  keyring of client.admin (all caps)
#   CEPH_LLOOP_KEYRING  keyring of client.lloop: caps "profile rbd" on the mon
#                       and "profile rbd pool=$CEPH_POOL" on the osd
#   CEPH_BAD_KEYRING    a keyring for client.lloop holding a WRONG key
#   CEPH_BAD_CONF       $CEPH_DIR/bad/ceph.conf: the same cluster, but
#                       client.lloop's keyring is $CEPH_BAD_KEYRING, so
#                       `--conf "$CEPH_BAD_CONF" --id lloop` is refused by
#                       cephx (EACCES, "permission denied"); client.admin
#                       still works with it
#   CEPH_MON_PID CEPH_OSD_PID   the daemons (children of the test shell)
#   CEPH_MON_LOG CEPH_OSD_LOG   their logs
#   CEPH_START_SECONDS  wall time ceph_start took (a usable pool at the end)
#
# Tunables (environment, before ceph_start):
#   CEPH_POOL              pool name (default rbd)
#   CEPH_TIMEOUT           seconds for each wait (default 60)
#   CEPH_MEMSTORE_BYTES    memstore capacity (default 2 GiB; memory is only
#                          used for what is written)
#   CEPH_EXTRA_CONF        lines appended to the [global] section

CEPH_MISSING=
CEPH_DIR=
CEPH_MON_PID=
CEPH_OSD_PID=
CEPH_MON_LOG=
CEPH_OSD_LOG=
CEPH_POOL=${CEPH_POOL:-rbd}
CEPH_TIMEOUT=${CEPH_TIMEOUT:-60}
CEPH_MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-2147483648}

# ceph_available: 0 when every binary the cluster needs is installed; else 1
# with the reason in CEPH_MISSING ("ceph not installed: ceph-mon ...").
ceph_available() {
	local c missing=()
	for c in ceph-mon ceph-osd ceph ceph-authtool monmaptool rbd; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		CEPH_MISSING="ceph not installed (missing ${missing[*]}; scripts/deps check installs ceph-mon ceph-osd ceph-common)"
		return 1
	fi
	return 0
}

# _ceph_logs: the last lines of the daemons' logs, to stderr.
_ceph_logs() {
	local f
	for f in "$CEPH_MON_LOG" "$CEPH_OSD_LOG"; do
		[ -s "$f" ] || continue
		echo "--- last lines of $f:" >&2
		tail -n 15 "$f" >&2
	done
}

# _ceph_fail MESSAGE: fail the test, showing the daemons' logs.
_ceph_fail() {
	_ceph_logs
	fail "ceph: $*"
}

# _ceph_run WHAT CMD...: run a setup command bounded by CEPH_TIMEOUT; on
# failure show its output and the daemon logs, and fail the test.
_ceph_run() {
	local what=$1 out rc=0
	shift
	out=$(timeout -k 5 "$CEPH_TIMEOUT" "$@" 2>&1) || rc=$?
	if [ "$rc" != 0 ]; then
		printf '%s\n' "$out" >&2
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			_ceph_fail "$what: no answer within ${CEPH_TIMEOUT} s ($*)"
		fi
		_ceph_fail "$what failed with status $rc ($*)"
	fi
}

# _ceph_alive PID: the process exists and is not a zombie.
_ceph_alive() {
	kill -0 "$1" 2>/dev/null &&
		[ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

# _ceph_untrack PID: drop PID from lib.sh's TRACKED_PIDS once it has been
# reaped, so the exit trap never signals a recycled PID.
_ceph_untrack() {
	local keep=() p
	for p in "${TRACKED_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	TRACKED_PIDS=("${keep[@]}")
}

_ceph_write_conf() {
	local conf=$1 lloop_keyring=$2
	cat >"$conf" <<EOF
# throwaway test cluster made by tests/lib/ceph.sh; everything under $CEPH_DIR
[global]
fsid = $_CEPH_FSID
mon host = [v2:$CEPH_MON_ADDR,v1:$CEPH_MON_V1_ADDR]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $CEPH_DIR/run
crash dir = $CEPH_DIR/crash
log file = $CEPH_DIR/log/\$name.log
mon data = $CEPH_DIR/mon
osd data = $CEPH_DIR/osd
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon allow pool delete = true
osd client watch timeout = 5
${CEPH_EXTRA_CONF:-}

[mon]
paxos propose interval = 0.05
# the cluster and audit logs default to /var/log/ceph
mon cluster log file = default=$CEPH_DIR/log/\$channel.log cluster=$CEPH_DIR/log/cluster.log
# a disk that is almost full (TMPDIR) must not stop the throwaway mon
mon data avail crit = 0
mon data avail warn = 0
# a lost race for the port shows at once instead of after 3 x 5 s
ms bind retry count = 1
ms bind retry delay = 1

[osd]
osd objectstore = memstore
memstore device bytes = $CEPH_MEMSTORE_BYTES
memstore page set = true
keyring = $CEPH_DIR/osd/keyring
# when the mon is gone first (lib.sh's exit trap signals both at once),
# do not wait the default 5 s for its answer to "marking myself down"
osd mon shutdown timeout = 1

[client]
keyring = $CEPH_DIR/\$name.keyring
admin socket = $CEPH_DIR/run/\$name.\$pid.\$cctid.asok
EOF
	if [ -n "$lloop_keyring" ]; then
		printf '\n[client.lloop]\nkeyring = %s\n' "$lloop_keyring" >>"$conf"
	fi
}

# ceph_start DIR: make and start the cluster under DIR (created; must not
# exist or be empty), create and init the pool $CEPH_POOL.  Fails the test
# (lib.sh fail, with the daemons' log tails) when a step does not complete
# within CEPH_TIMEOUT seconds.
ceph_start() {
	local dir=$1 t0 try rc i
	[ -z "$CEPH_MON_PID$CEPH_OSD_PID" ] || fail "ceph_start: a cluster is already running"
	ceph_available || fail "ceph_start: $CEPH_MISSING"
	t0=$EPOCHREALTIME
	mkdir -p "$dir"
	CEPH_DIR=$(cd "$dir" && pwd)
	[ -z "$(ls -A "$CEPH_DIR")" ] || fail "ceph_start: $CEPH_DIR is not empty"
	CEPH_CONF=$CEPH_DIR/ceph.conf
	CEPH_BAD_CONF=$CEPH_DIR/bad/ceph.conf
	CEPH_ADMIN_KEYRING=$CEPH_DIR/client.admin.keyring
	CEPH_LLOOP_KEYRING=$CEPH_DIR/client.lloop.keyring
	CEPH_BAD_KEYRING=$CEPH_DIR/bad/client.lloop.keyring
	CEPH_MON_LOG=$CEPH_DIR/log/mon.a.log
	CEPH_OSD_LOG=$CEPH_DIR/log/osd.0.log
	# every ceph tool the test runs reads this conf, never /etc/ceph
	export CEPH_CONF CEPH_DIR CEPH_POOL CEPH_BAD_CONF CEPH_ADMIN_KEYRING \
		CEPH_LLOOP_KEYRING CEPH_BAD_KEYRING
	unset CEPH_ARGS

	# the mon's port is chosen before the mon binds it: on a lost race,
	# start over with new ports
	for try in 1 2 3; do
		rc=0
		_ceph_start_mon || rc=$?
		[ "$rc" = 2 ] || break
		echo "ceph_start: monitor port taken, retrying with another" >&2
	done
	[ "$rc" = 0 ] || _ceph_fail "monitor did not start"

	# no mgr: "osd new", "osd pool create" and "pool application enable"
	# are mon commands
	_ceph_run "register osd.0" ceph --conf "$CEPH_CONF" osd new "$_CEPH_OSD_UUID" 0
	ceph-osd --conf "$CEPH_CONF" -i 0 -f </dev/null >>"$CEPH_DIR/log/osd.0.out" 2>&1 &
	CEPH_OSD_PID=$!
	track_pid "$CEPH_OSD_PID"
	_ceph_run "create pool $CEPH_POOL" ceph --conf "$CEPH_CONF" osd pool create "$CEPH_POOL"
	# returns once the pool's placement groups are active (the osd is up
	# and has peered them): the pool is usable from here on
	_ceph_run "rbd pool init $CEPH_POOL" rbd --conf "$CEPH_CONF" pool init "$CEPH_POOL"
	_ceph_alive "$CEPH_MON_PID" || _ceph_fail "ceph-mon $CEPH_MON_PID died"
	_ceph_alive "$CEPH_OSD_PID" || _ceph_fail "ceph-osd $CEPH_OSD_PID died"
	export CEPH_MON_PID CEPH_OSD_PID
	CEPH_START_SECONDS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" \
		'BEGIN { printf "%.2f", b - a }')
	echo "--- ceph: mon $CEPH_MON_PID on $CEPH_MON_ADDR, osd $CEPH_OSD_PID, pool $CEPH_POOL ready in $CEPH_START_SECONDS s ($CEPH_DIR)"
}

# _ceph_start_mon: keyrings, conf, monmap, mon store, osd data; start the
# mon and wait for it to answer.  Returns 2 if the mon could not bind its
# port (the caller retries), fails the test on other errors.
_ceph_start_mon() {
	local i pid
	rm -rf "${CEPH_DIR:?}"/*
	mkdir -p "$CEPH_DIR"/{mon,osd,run,log,crash,bad}
	_CEPH_FSID=$(cat /proc/sys/kernel/random/uuid)
	_CEPH_OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
	local p2 p1
	p2=$(free_port 4)
	p1=$(free_port 4)
	for ((i = 0; i < 10 && p1 == p2; i++)); do
		p1=$(free_port 4)
	done
	CEPH_MON_ADDR=127.0.0.1:$p2
	CEPH_MON_V1_ADDR=127.0.0.1:$p1
	export CEPH_MON_ADDR CEPH_MON_V1_ADDR
	_ceph_write_conf "$CEPH_CONF" ""
	_ceph_write_conf "$CEPH_BAD_CONF" "$CEPH_BAD_KEYRING"

	# every key is in the mon's initial keyring, so the auth database has
	# them from the start: one mon command fewer per entity
	local mk=$CEPH_DIR/mon.keyring f
	_ceph_run "keyring" ceph-authtool --create-keyring "$mk" --gen-key -n mon. \
		--cap mon 'allow *'
	_ceph_run "keyring" ceph-authtool --create-keyring "$CEPH_ADMIN_KEYRING" \
		--gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
		--cap mgr 'allow *' --cap mds 'allow *'
	_ceph_run "keyring" ceph-authtool --create-keyring "$CEPH_LLOOP_KEYRING" \
		--gen-key -n client.lloop --cap mon 'profile rbd' \
		--cap osd "profile rbd pool=$CEPH_POOL"
	_ceph_run "keyring" ceph-authtool --create-keyring "$CEPH_DIR/osd/keyring" \
		--gen-key -n osd.0 --cap mon 'allow profile osd' \
		--cap mgr 'allow profile osd' --cap osd 'allow *'
	_ceph_run "keyring" ceph-authtool --create-keyring "$CEPH_BAD_KEYRING" \
		--gen-key -n client.lloop
	for f in "$CEPH_ADMIN_KEYRING" "$CEPH_LLOOP_KEYRING" "$CEPH_DIR/osd/keyring"; do
		_ceph_run "keyring" ceph-authtool "$mk" --import-keyring "$f"
	done
	_ceph_run "monmap" monmaptool --create --fsid "$_CEPH_FSID" \
		--addv a "[v2:$CEPH_MON_ADDR,v1:$CEPH_MON_V1_ADDR]" "$CEPH_DIR/monmap"
	_ceph_run "ceph-mon --mkfs" ceph-mon --conf "$CEPH_CONF" -i a --mkfs \
		--monmap "$CEPH_DIR/monmap" --keyring "$mk"
	# --no-mon-config: no mon to ask yet
	_ceph_run "ceph-osd --mkfs" ceph-osd --conf "$CEPH_CONF" -i 0 --mkfs \
		--no-mon-config --osd-uuid "$_CEPH_OSD_UUID" \
		--monmap "$CEPH_DIR/monmap"

	ceph-mon --conf "$CEPH_CONF" -i a -f </dev/null >>"$CEPH_DIR/log/mon.a.out" 2>&1 &
	pid=$!
	track_pid "$pid"
	# up as soon as it listens (a single mon is its own quorum)
	for ((i = 0; i < CEPH_TIMEOUT * 20; i++)); do
		if ! _ceph_alive "$pid"; then
			wait "$pid" 2>/dev/null || :
			_ceph_untrack "$pid"
			grep -qi 'address already in use' "$CEPH_MON_LOG" \
				"$CEPH_DIR/log/mon.a.out" 2>/dev/null && return 2
			_ceph_fail "ceph-mon exited at start-up"
		fi
		if _ceph_listening "$p2" && _ceph_listening "$p1"; then
			CEPH_MON_PID=$pid
			return 0
		fi
		sleep 0.05
	done
	CEPH_MON_PID=$pid
	_ceph_fail "ceph-mon does not listen on $CEPH_MON_ADDR after ${CEPH_TIMEOUT} s"
}

# _ceph_listening PORT: something listens on 127.0.0.1:PORT (TCP).
_ceph_listening() {
	local hex
	hex=$(printf ':%04X ' "$1")
	# state 0A = LISTEN in /proc/net/tcp
	awk -v p="$hex" '$2 ~ /^0100007F/ && substr($2, 9) " " == p && $4 == "0A" { f = 1 } END { exit !f }' \
		/proc/net/tcp
}

# ceph_stop: stop the daemons ceph_start started, by PID only: the osd
# first (it tells the mon it is going down and waits for the answer), then
# the mon; SIGKILL whichever is still alive 10 s after its SIGTERM.  Fails
# the test if one does not go away.  The files stay in CEPH_DIR (the test's
# temp dir is removed by lib.sh's exit trap).
ceph_stop() {
	local pid i
	for pid in $CEPH_OSD_PID $CEPH_MON_PID; do
		kill -TERM "$pid" 2>/dev/null || :
		for ((i = 0; i < 100; i++)); do
			_ceph_alive "$pid" || break
			sleep 0.05
		done
		if _ceph_alive "$pid"; then
			echo "ceph_stop: $pid still alive 5 s after SIGTERM, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || :
		fi
		wait "$pid" 2>/dev/null || :
		! kill -0 "$pid" 2>/dev/null || fail "ceph_stop: daemon $pid does not go away"
		_ceph_untrack "$pid"
	done
	CEPH_OSD_PID=
	CEPH_MON_PID=
}
