/* attest11 error codes: one enum for every layer, one string for each. */
#ifndef A11_ERR_H
#define A11_ERR_H

typedef enum {
	A11_OK = 0,
	A11_ERR_NOMEM,         /* allocation failed */
	A11_ERR_ARG,           /* a caller passed something impossible */
	A11_ERR_PARSE,         /* malformed, truncated or trailing bytes */
	A11_ERR_UNSUPPORTED,   /* algorithm, curve or size we do not handle */
	A11_ERR_CRYPTO,        /* OpenSSL refused an operation */
	/* Verdicts of evidence verification. */
	A11_ERR_SIGNATURE,     /* signature does not verify */
	A11_ERR_ATTEST_MAGIC,  /* TPMS_ATTEST magic is not TPM_GENERATED */
	A11_ERR_ATTEST_TYPE,   /* TPMS_ATTEST of the wrong type */
	A11_ERR_NONCE,         /* extraData is not the nonce we sent */
	A11_ERR_PCR_SELECTION, /* quoted PCR selection differs from the request */
	A11_ERR_PCR_DIGEST,    /* PCR values do not hash to the quoted digest */
	A11_ERR_SIGNER,        /* qualifiedSigner is not the expected AK */
	A11_ERR_NAME,          /* certified Name differs from the presented key */
	A11_ERR_ATTRIBUTES,    /* object attributes are not the required ones */
	A11_ERR_EKCERT,        /* EK certificate does not chain to a trusted CA */
	A11_ERR_EKCERT_KEY,    /* EK certificate key differs from the EK public */
	A11_ERR_EVENTLOG_MISMATCH, /* event log does not replay to the PCRs, or an event's digest is not of its data */
	/* The TPM and its transport. */
	A11_ERR_TPM,           /* any other TPM response code */
	A11_ERR_TPM_COMM,      /* cannot reach the TPM (TCTI) */
	A11_ERR_TPM_AUTH,      /* wrong authValue (PIN) */
	A11_ERR_TPM_LOCKOUT,   /* dictionary-attack lockout */
	A11_ERR_TPM_POLICY,    /* policy not satisfied (e.g. PCRs changed) */
	A11_ERR_LEASE_ENDED,   /* TPM clock past the lease end, or the TPM rebooted */
	A11_ERR_TPM_INTEGRITY, /* import blob or credential failed its HMAC */
	A11_ERR_TPM_NOT_FOUND, /* NV index or persistent handle absent */
	/* Storage and state. */
	A11_ERR_NOT_FOUND,     /* no such record */
	A11_ERR_EXISTS,        /* record already exists */
	A11_ERR_REUSED,        /* single-use item already used */
	A11_ERR_EXPIRED,       /* item past its expiry */
	A11_ERR_STORE,         /* database failure */
	A11_ERR_BUSY,          /* database locked by another process: try again later */
	A11_ERR_AUDIT,         /* audit chain broken */
	A11_ERR_IO,            /* file or network I/O failed */
	/* Talking to the broker. */
	A11_ERR_REFUSED,       /* the broker refused (its problem code says why) */
	A11_ERR_NETWORK,       /* broker unreachable or too slow (timeout) */
	A11_ERR_TLS,           /* broker's TLS certificate not trusted */
	A11_ERR_PROTOCOL,      /* broker answered something malformed */
	A11_ERR__COUNT
} a11_err;

/* A short, stable, human-readable description; never NULL. */
const char *a11_strerror(a11_err e);
/* A stable machine token such as "pcr_digest", for logs and protocols. */
const char *a11_errname(a11_err e);

#endif
