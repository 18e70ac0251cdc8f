"""Option haggling state, as the NBD spec keeps it (raw client):
  - LIST_META_CONTEXT replies carry context ID 0 (reserved);
  - a SET_META_CONTEXT that fails still replaces the selection: BLOCK_STATUS
    after it is EINVAL;
  - a context set for export "a" stays selected through EXPORT_NAME "a" and
    GO "a", and is not selected after GO "b";
  - STARTTLS forgets what was negotiated in plaintext: after it, without
    asking again, GO gives no DF flag, a READ gets a simple reply and
    BLOCK_STATUS fails; asked again inside TLS, both work.

    meta_negotiation.py PORT CA_CERT
"""
import os
import ssl
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import nbdraw as N  # noqa: E402

PORT, CAFILE = int(sys.argv[1]), sys.argv[2]
OPT_STARTTLS, OPT_LIST_META, OPT_SET_META = 5, 9, 10
REP_META_CONTEXT = 4
FLAG_SEND_DF = 1 << 7
BASE = b"base:allocation"


def eq(got, want, what):
    if got != want:
        sys.exit("%s: expected %r, got %r" % (what, want, got))
    print("ok: %s" % what)


def conn():
    s = N.connect(("127.0.0.1", PORT), timeout=30)
    N.greet(s)
    return s


def meta(s, opt, name, queries):
    """(final reply type, [(context id, name)])"""
    data = struct.pack(">I", len(name)) + name + struct.pack(">I", len(queries))
    data += b"".join(struct.pack(">I", len(q)) + q for q in queries)
    s.sendall(N.option(opt, data))
    ctx = []
    while True:
        _, rtype, data = N.recv_option_reply(s)
        if rtype != REP_META_CONTEXT:
            return rtype, ctx
        ctx.append((struct.unpack(">I", data[:4])[0], data[4:]))


def structured(s):
    s.sendall(N.option(N.OPT_STRUCTURED_REPLY))
    return N.recv_option_reply(s)[1]


def block_status(s, is_structured=True):
    s.sendall(N.request(N.CMD_BLOCK_STATUS, 7, 0, 4096))
    return N.read_reply(s, structured=is_structured)[0]


def starttls(s):
    s.sendall(N.option(OPT_STARTTLS))
    eq(N.recv_option_reply(s)[1], N.REP_ACK, "STARTTLS")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CAFILE)
    return ctx.wrap_socket(s, server_hostname="localhost")


# LIST: ID 0; SET: a real ID
s = conn()
rtype, ctx = meta(s, OPT_LIST_META, b"a", [BASE])
eq((rtype, ctx), (N.REP_ACK, [(0, BASE)]), "LIST_META_CONTEXT reply, ID 0")
eq(structured(s), N.REP_ACK, "STRUCTURED_REPLY")
rtype, ctx = meta(s, OPT_SET_META, b"a", [BASE])
eq((rtype, len(ctx), ctx[0][1] if ctx else None), (N.REP_ACK, 1, BASE),
   "SET_META_CONTEXT selects base:allocation")
if ctx[0][0] == 0:
    sys.exit("SET_META_CONTEXT gave context ID 0")
eq(isinstance(N.go(s, b"a"), dict), True, "GO a")
eq(block_status(s), 0, "BLOCK_STATUS after SET and GO of the same export")
s.close()

# a failed SET replaces the selection
s = conn()
eq(structured(s), N.REP_ACK, "STRUCTURED_REPLY")
eq(meta(s, OPT_SET_META, b"a", [BASE])[0], N.REP_ACK, "SET_META_CONTEXT on a")
eq(meta(s, OPT_SET_META, b"nosuch", [BASE])[0], N.REP_ERR_UNKNOWN,
   "SET_META_CONTEXT on an unknown export")
eq(isinstance(N.go(s, b"a"), dict), True, "GO a")
eq(block_status(s), N.EINVAL, "BLOCK_STATUS after a failed SET")
s.close()

# EXPORT_NAME of the same export keeps it
s = conn()
eq(structured(s), N.REP_ACK, "STRUCTURED_REPLY")
eq(meta(s, OPT_SET_META, b"a", [BASE])[0], N.REP_ACK, "SET_META_CONTEXT on a")
s.sendall(N.option(N.OPT_EXPORT_NAME, b"a"))
N.recv_exact(s, 10)        # size, flags (we said NO_ZEROES)
eq(block_status(s), 0, "BLOCK_STATUS after SET a and EXPORT_NAME a")
s.close()

# GO of another export does not
s = conn()
eq(structured(s), N.REP_ACK, "STRUCTURED_REPLY")
eq(meta(s, OPT_SET_META, b"a", [BASE])[0], N.REP_ACK, "SET_META_CONTEXT on a")
eq(isinstance(N.go(s, b"b"), dict), True, "GO b")
eq(block_status(s), N.EINVAL, "BLOCK_STATUS after SET a and GO b")
s.close()

# STARTTLS forgets plaintext negotiation
s = conn()
eq(structured(s), N.REP_ACK, "STRUCTURED_REPLY in plaintext")
eq(meta(s, OPT_SET_META, b"a", [BASE])[0], N.REP_ACK,
   "SET_META_CONTEXT in plaintext")
s = starttls(s)
info = N.go(s, b"a")
eq(isinstance(info, dict) and not info["flags"] & FLAG_SEND_DF, True,
   "GO inside TLS without asking again: no DF flag")
s.sendall(N.request(N.CMD_READ, 1, 0, 16))
eq(N.read_reply(s, structured=False, read_len=16)[0], 0,
   "READ inside TLS: a simple reply")
eq(block_status(s, is_structured=False), N.EINVAL,
   "BLOCK_STATUS inside TLS without asking again")
s.close()

# ... and asked again inside TLS, it is there
s = conn()
eq(structured(s), N.REP_ACK, "STRUCTURED_REPLY in plaintext")
s = starttls(s)
eq(structured(s), N.REP_ACK, "STRUCTURED_REPLY again inside TLS")
eq(meta(s, OPT_SET_META, b"a", [BASE])[0], N.REP_ACK,
   "SET_META_CONTEXT inside TLS")
info = N.go(s, b"a")
eq(isinstance(info, dict) and bool(info["flags"] & FLAG_SEND_DF), True,
   "GO inside TLS: DF flag")
eq(block_status(s), 0, "BLOCK_STATUS inside TLS")
s.close()
print("meta_negotiation: all checks passed")
