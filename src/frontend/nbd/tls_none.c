// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A build without GnuTLS (-Dtls=disabled, e.g. the static build the VM
 * rig boots): --tls off works as always, anything else is refused at
 * start-up.  Nothing else here is reachable, as no session ever starts.
 */
#include <errno.h>

#include "core/log.h"
#include "frontend/nbd/nbd.h"

const char *tls_mode_name(enum tls_mode m)
{
	return m == TLS_REQUIRE ? "require" : m == TLS_ON ? "on" : "off";
}

int tls_server_init(struct tls_server **ts, const struct tls_options *o)
{
	*ts = NULL;
	if (o->mode == TLS_OFF)
		return 0;
	log_error("--tls %s: this lloop was built without TLS (-Dtls=disabled)",
		  tls_mode_name(o->mode));
	return -ENOTSUP;
}

void tls_server_fini(struct tls_server *ts)
{
}

void tls_start(struct nbd_conn *c, void (*after)(struct nbd_conn *c))
{
	conn_fail(c, -ENOTSUP);
	conn_maybe_close(c);
}

void tls_rx_kick(struct nbd_conn *c)
{
	conn_rx_done(c, -ENOTSUP);
}

void tls_tx_kick(struct nbd_conn *c, const struct iovec *iov, int cnt)
{
	c->tx_busy = true;
	conn_tx_done(c, -ENOTSUP);
}

void tls_conn_end(struct nbd_conn *c)
{
}
