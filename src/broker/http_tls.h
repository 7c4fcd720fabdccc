/* TLS session resumption on the broker's HTTPS front end (GnuTLS under
 * libmicrohttpd): session tickets (RFC 5077, RFC 8446 section 4.6.1)
 * under a key the broker draws at start, kept in memory only, wiped at
 * stop. A reconnecting client resumes instead of a full handshake; a
 * ticket from before a restart, or from another replica, does not open
 * and the handshake is simply a full one. */
#ifndef A11_BROKER_HTTP_TLS_H
#define A11_BROKER_HTTP_TLS_H

#include <microhttpd.h>

#include "../common/err.h"

struct http_tickets;

a11_err http_tickets_new(struct http_tickets **out);
/* Logs (info) how many connections closed and how many of them resumed a
 * session. Once the daemon is stopped. */
void http_tickets_report(const struct http_tickets *t);
/* Wipes the key. Only once the daemon is stopped. */
void http_tickets_free(struct http_tickets *t);
/* MHD_OPTION_NOTIFY_CONNECTION's callback (cls: the http_tickets):
 * enables tickets on each new connection's TLS session, and counts the
 * connections that close. */
void http_tickets_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
				enum MHD_ConnectionNotificationCode code);

#endif
