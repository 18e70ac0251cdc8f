#!/bin/bash
# lloop-test: engine-independent (the wire error a backend error becomes)
# A backend's error reaches an NBD client only as one of the spec's
# values, and NBD_EOVERFLOW and NBD_ENOTSUP only where proto.md allows
# them: EOVERFLOW for a read with DF, ENOTSUP for a write-zeroes with
# FAST_ZERO.  The same errors on any other command go out as EINVAL (as
# nbdkit sends them).  The old code sent ENOTSUP for a trim and
# EOVERFLOW for a cache.  (FAST_ZERO where it was not offered is EINVAL:
# unit/wire, since every writable backend offers it.)
. "$(dirname "$0")/../interop/lib.sh"
need_pynbd
describe "wire errors: EOVERFLOW and ENOTSUP only where the spec allows them"

truncate -s 16M "$T/img"
start_server_unix \
	--inject-fault trim:ENOTSUP:1 --inject-fault cache:EOVERFLOW:1 \
	--inject-fault zero:ENOTSUP:1 --inject-fault read:EOVERFLOW:1 \
	"$T/img"

"$PY" - "$SERVER_URI" <<'EOF' || fail "wire error checks failed"
import errno, sys
import nbd

h = nbd.NBD()
h.set_strict_mode(0)
h.connect_uri(sys.argv[1])
bad = 0

def want(what, name, fn, *args):
    global bad
    try:
        fn(*args)
    except nbd.Error as e:
        got = errno.errorcode.get(e.errnum, e.errnum)
    else:
        got = "success"
    print("    %-34s -> %s" % (what, got))
    if got != name:
        print("    %s: expected %s" % (what, name))
        bad += 1

want("trim (backend ENOTSUP)", "EINVAL", h.trim, 4096, 0)
want("cache (backend EOVERFLOW)", "EINVAL", h.cache, 4096, 0)
want("write-zeroes (backend ENOTSUP)", "EINVAL", h.zero, 4096, 0)
def offered(flag, what):
    global bad
    if not flag:
        print("    the server does not offer %s" % what)
        bad += 1
    return flag

if offered(h.can_fast_zero(), "FAST_ZERO"):
    want("write-zeroes FAST_ZERO (ENOTSUP)", "ENOTSUP", h.zero, 4096, 0,
         nbd.CMD_FLAG_FAST_ZERO)
want("read (backend EOVERFLOW)", "EINVAL", h.pread, 4096, 0)
if offered(h.can_df(), "DF"):
    want("read DF (backend EOVERFLOW)", "EOVERFLOW", h.pread, 4096, 0,
         nbd.CMD_FLAG_DF)
h.shutdown()
sys.exit(bad)
EOF
stop_server

echo "PASS: wire errors as the spec allows them"
