# shellcheck shell=bash disable=SC2034,SC2154
# (globals shared with bench/run: set here and used there, or the reverse)
# bench/tls.sh - the TLS family of bench/run; sourced by it, not run.
#
# Three servers on TCP 127.0.0.1, all driven by the same client (fio's nbd
# engine, through libnbd) so that the ratios compare like with like:
#   lloop-tls   lloop serve --tls require --tls-certificates DIR
#   lloop-tcp   lloop serve in plaintext, the same TCP listener
#   nbdkit-tls  nbdkit --tls=require --tls-certificates=DIR file FILE
#
# fio's nbd engine passes its URI to libnbd, which refuses the URI's
# tls-certificates parameter there ("local file access ... not allowed").
# Without it libnbd loads its default certificate directory instead:
# $HOME/.pki/libnbd for a non-root user, /etc/pki/libnbd for root.  So fio
# runs with HOME set to our work directory and, when we are root, in a user
# namespace of its own (unshare --user), where its effective uid is the
# overflow uid (not 0), while the kernel still checks file access with our
# real credentials.  Nothing outside the work directory is read or made.
# The plaintext row runs through the same wrapper.
#
# The certificates are a throwaway CA and a server certificate for
# 127.0.0.1, made with certtool (gnutls-bin) in the work directory at the
# start; the client has only the CA (no client certificate: the servers do
# not ask for one).

TLS_SERVERS=(lloop-tls lloop-tcp nbdkit-tls)
# the issue's jobs: 1 MiB sequential read and write, 4k random read qd 32;
# --quick keeps the one its targets are about
TLS_JOBS_FULL=(seqr1m-qd8 seqw1m-qd8 rr4k-qd32)
TLS_JOBS_QUICK=(seqr1m-qd8)
TLS_JOBS=()
TLS_DIR=''
TLS_WRAP=()

# tls_pick_jobs QUICK JOBS_OPT: the TLS jobs this run makes
tls_pick_jobs() {
	local j names=()
	if [ -n "$2" ]; then
		IFS=, read -ra names <<<"$2"
		TLS_JOBS=()
		for j in "${TLS_JOBS_FULL[@]}"; do
			[[ " ${names[*]} " == *" $j "* ]] && TLS_JOBS+=("$j")
		done
	elif [ "$1" = 1 ]; then
		TLS_JOBS=("${TLS_JOBS_QUICK[@]}")
	else
		TLS_JOBS=("${TLS_JOBS_FULL[@]}")
	fi
}

# tls_unavailable SERVER: why it cannot run here (nothing: it can)
tls_unavailable() {
	[ ${#TLS_JOBS[@]} -gt 0 ] ||
		{ echo "no TLS job among --jobs (${TLS_JOBS_FULL[*]})"; return; }
	command -v certtool >/dev/null ||
		{ echo "certtool is not installed (package gnutls-bin)"; return; }
	if [ "$(id -u)" = 0 ] && ! unshare --user true 2>/dev/null; then
		echo "fio needs a user namespace (unshare --user) to find its CA as root"
		return
	fi
	if [ "$1" = nbdkit-tls ]; then
		command -v nbdkit >/dev/null ||
			{ echo "nbdkit is not installed (package nbdkit)"; return; }
		nbdkit --dump-config 2>/dev/null | grep -qx 'tls=yes' ||
			{ echo "this nbdkit was built without TLS"; return; }
	fi
}

tls_certtool() {
	certtool "$@" >>"$W/tls/certtool.log" 2>&1
}

# a throwaway CA and server certificate (ECDSA: quick to generate)
tls_material() {
	local d="$W/tls"
	[ -n "$TLS_DIR" ] && return 0
	mkdir -p "$d/server" "$d/home/.pki/libnbd" || return 1
	cat >"$d/ca.info" <<'EOF'
cn = lloop bench CA
ca
cert_signing_key
expiration_days = 2
EOF
	cat >"$d/server.info" <<'EOF'
cn = localhost
dns_name = "localhost"
ip_address = "127.0.0.1"
tls_www_server
signing_key
encryption_key
expiration_days = 2
EOF
	if ! tls_certtool --generate-privkey --key-type=ecdsa --outfile "$d/ca-key.pem" ||
		! tls_certtool --generate-self-signed --load-privkey "$d/ca-key.pem" \
			--template "$d/ca.info" --outfile "$d/server/ca-cert.pem" ||
		! tls_certtool --generate-privkey --key-type=ecdsa \
			--outfile "$d/server/server-key.pem" ||
		! tls_certtool --generate-certificate \
			--load-privkey "$d/server/server-key.pem" \
			--load-ca-certificate "$d/server/ca-cert.pem" \
			--load-ca-privkey "$d/ca-key.pem" --template "$d/server.info" \
			--outfile "$d/server/server-cert.pem"; then
		echo "bench: certtool failed:" >&2; logtail "$d/certtool.log"
		return 1
	fi
	cp "$d/server/ca-cert.pem" "$d/home/.pki/libnbd/" || return 1
	if [ "$(id -u)" = 0 ]; then
		TLS_WRAP=(env "HOME=$d/home" unshare --user)
	else
		TLS_WRAP=(env "HOME=$d/home")
	fi
	TLS_DIR=$d
}

tls_port() { # a free TCP port of 127.0.0.1 (the server may still race us)
	"$PY" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# tls_cipher NAME URI-WITHOUT-QUERY: what libnbd negotiated, as a note
tls_cipher() {
	local log="$W/$1-probe.log" line
	# --quick saves the probe's second: every second counts there
	[ "$quick" = 1 ] && return 0
	command -v nbdinfo >/dev/null || return 0
	LIBNBD_DEBUG=1 timeout 20 nbdinfo --size \
		"$2?tls-certificates=$TLS_DIR/home/.pki/libnbd" >"$log" 2>&1
	line=$(grep -m1 -o 'using TLS: cipher [^ ]*' "$log") || {
		echo "bench: $1: nbdinfo did not say which cipher:" >&2
		logtail "$log"
		return 0
	}
	note "$1" "TLS cipher ${line#using TLS: cipher } (as libnbd says)"
}

# tls_spawn NAME CMD...: start the server CMD in the background, logging
# to $W/NAME.log, until it writes $W/NAME.pid; @PORT@ in CMD stands for a
# free port of 127.0.0.1, a new one on each of 3 tries, since another
# process may take it between tls_port and bind.  Sets TLS_PID and TLS_PORT.
tls_spawn() {
	local name=$1 log="$W/$1.log" pf="$W/$1.pid" port pid a _
	local cmd=()
	shift
	for _ in 1 2 3; do
		port=$(tls_port) || return 1
		cmd=()
		for a in "$@"; do cmd+=("${a//@PORT@/$port}"); done
		rm -f "$pf"
		"${cmd[@]}" 2>>"$log" &
		pid=$!
		own_pid "$pid"
		if wait_for 20 "$pid" file_ready "$pf"; then
			TLS_PID=$pid TLS_PORT=$port
			return 0
		fi
		stop_pid "$pid"
		tail -n 2 "$log" | grep -qi 'in use' || break
	done
	echo "bench: $name did not start:" >&2
	logtail "$log"
	return 1
}

# tls_lloop NAME LLOOP-OPTIONS...: lloop serve on TCP 127.0.0.1
tls_lloop() {
	local name=$1 extra=()
	shift
	tls_material || return 1
	[ "$pin" = 1 ] && extra+=(--threads 1)
	tls_spawn "$name" "${PIN_SRV[@]}" "$LLOOP" serve \
		--listen "tcp://127.0.0.1:@PORT@" --control "$W/$name.ctl" \
		--pidfile "$W/$name.pid" "$@" "${extra[@]}" "$FILE" || return 1
	SRV_PIDS=("$TLS_PID") TKIND=nbd FIO_WRAP=("${TLS_WRAP[@]}")
	note "$name" "$(grep -m1 -o 'engine [^,]*, [0-9]* workers\?' "$W/$name.log")"
}

start_lloop-tls() {
	tls_material || return 1
	tls_lloop lloop-tls --tls require --tls-certificates "$TLS_DIR/server" ||
		return 1
	TARGET="nbds://127.0.0.1:$TLS_PORT/"
	tls_cipher lloop-tls "$TARGET"
}
stop_lloop-tls() { stop_pid "${SRV_PIDS[0]}" 30; }

start_lloop-tcp() {
	tls_lloop lloop-tcp || return 1
	TARGET="nbd://127.0.0.1:$TLS_PORT/"
}
stop_lloop-tcp() { stop_pid "${SRV_PIDS[0]}" 30; }

start_nbdkit-tls() {
	tls_material || return 1
	tls_spawn nbdkit-tls "${PIN_SRV[@]}" nbdkit -f --exit-with-parent \
		-i 127.0.0.1 -p @PORT@ -P "$W/nbdkit-tls.pid" --tls=require \
		--tls-certificates="$TLS_DIR/server" \
		file "file=$FILE" cache=none fadvise=random || return 1
	TARGET="nbds://127.0.0.1:$TLS_PORT/" TKIND=nbd SRV_PIDS=("$TLS_PID")
	FIO_WRAP=("${TLS_WRAP[@]}")
	tls_cipher nbdkit-tls "$TARGET"
}
stop_nbdkit-tls() { stop_pid "${SRV_PIDS[0]}" 10; }
