/* A release checked before anything of it is used or kept
 * (src/attester/check.c). */
#ifndef A11_ATTESTER_CHECK_H
#define A11_ATTESTER_CHECK_H

#include "attester.h"

/* What the attester itself knows of an exchange, to check the broker's
 * release against (src/attester/check.c). */
struct release_expect {
	enum cred_kind kind;                 /* the challenge's */
	const TPMT_PUBLIC *key;              /* the key certificates must be for (NULL: token) */
	TPMS_CLOCK_INFO quote_clock;         /* the quote this exchange just made */
	bool key_auth;                       /* the challenge's: a PIN guards the key */
	bool bind_pcrs;                      /* the challenge's: PolicyPCR over sel ... */
	const TPML_PCR_SELECTION *sel;
	const struct a11_pcr_values *values; /* ... with the values the quote covered */
	const struct release *live;          /* a renewal: the lease it renews; else NULL */
};
/* The whole release before anything of it is used or kept: certificates
 * (attester_check_certs) and the approval's terms, which must be what the
 * broker can have meant for this quote and challenge, and hash to the
 * approved policy it signed. A11_ERR_PROTOCOL, with a log line naming
 * the cause, if not. */
a11_err attester_check_release(const struct release *rel, const struct release_expect *x);

#endif
