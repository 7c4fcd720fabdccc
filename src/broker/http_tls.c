/* Session tickets on libmicrohttpd's GnuTLS sessions.
 *
 * libmicrohttpd (0.9.75) has no option for tickets, but it makes each
 * connection's GnuTLS session (gnutls_init, credentials, priorities)
 * before it tells MHD_OPTION_NOTIFY_CONNECTION's callback that the
 * connection started, and it only adds the connection to its event loop
 * after that callback returns: the handshake cannot have begun, so
 * gnutls_session_ticket_enable_server is in time (GnuTLS requires it
 * before the handshake).
 *
 * What a ticket holds: the session's resumption secret, encrypted and
 * authenticated under keys GnuTLS derives from the master key below (and
 * rotates). The master key never leaves this process: a restart makes a
 * new one, so old tickets fall back to full handshakes; replicas do not
 * share it (docs/operations.md). With TLS 1.3 a resumption still runs an
 * ECDHE exchange: the priorities name no PSK key exchange, and GnuTLS then
 * takes a ticket only in psk_dhe_ke mode (an OpenSSL client offering both
 * modes resumes with an X25519 exchange), so forward secrecy does not
 * rest on the ticket key alone. */
#include <gnutls/gnutls.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "../common/log.h"
#include "http_tls.h"

struct http_tickets {
	gnutls_datum_t key;
	/* Connections closed, and how many of them resumed a session: what
	 * http_stop logs, so that an operator (and tls_resume.sh) sees
	 * whether the clients resume. */
	atomic_ulong closed, resumed;
};

a11_err http_tickets_new(struct http_tickets **out)
{
	struct http_tickets *t = calloc(1, sizeof(*t));
	a11_err e = A11_ERR_NOMEM;
	int rc;

	*out = NULL;
	if (t == NULL)
		goto out;
	if ((rc = gnutls_session_ticket_key_generate(&t->key)) != GNUTLS_E_SUCCESS) {
		log_error("cannot make the TLS session ticket key: %s", gnutls_strerror(rc));
		e = A11_ERR_CRYPTO;
		goto out;
	}
	*out = t;
	t = NULL;
	e = A11_OK;
out:
	http_tickets_free(t);
	return e;
}

void http_tickets_report(const struct http_tickets *t)
{
	log_info("%lu TLS connections closed, %lu of them resumed a session",
		 atomic_load(&t->closed), atomic_load(&t->resumed));
}

void http_tickets_free(struct http_tickets *t)
{
	if (t == NULL)
		return;
	if (t->key.data != NULL) {
		OPENSSL_cleanse(t->key.data, t->key.size);
		gnutls_free(t->key.data);
	}
	free(t);
}

void http_tickets_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
				enum MHD_ConnectionNotificationCode code)
{
	struct http_tickets *t = cls;
	const union MHD_ConnectionInfo *info;
	int rc;

	(void)socket_context;
	info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (info == NULL || info->tls_session == NULL) {
		log_warn("a connection without a TLS session: no session ticket");
		return;
	}
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		atomic_fetch_add(&t->closed, 1);
		if (gnutls_session_is_resumed(info->tls_session))
			atomic_fetch_add(&t->resumed, 1);
		return;
	}
	rc = gnutls_session_ticket_enable_server(info->tls_session, &t->key);
	if (rc != GNUTLS_E_SUCCESS)
		log_warn("no session ticket on a connection (full handshakes): %s",
			 gnutls_strerror(rc));
}
