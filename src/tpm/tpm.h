/* The TPM as the module sees it: Esys over a TCTI named by a config
 * string. Every function returns an a11_err and logs the decoded TSS2_RC
 * of any TPM failure. Transient objects and sessions are flushed by the
 * function that created them unless handed to the caller in a tpm_key,
 * which tpm_key_release flushes. */
#ifndef A11_TPM_H
#define A11_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_esys.h>

#include "../common/err.h"
#include "../common/pcr.h"

struct tpm;

a11_err tpm_open(const char *tcti_conf, struct tpm **out);
void tpm_close(struct tpm *t);
/* Is the connection still good? TPM2_ReadClock: A11_OK if the TPM answers
 * and has not been reset or restarted since the connection's first check
 * (which records resetCount and restartCount). Otherwise
 * A11_ERR_TPM_COMM: every handle of the connection is dead (tpm_close then
 * sends nothing for them); close it and open another. now (may be NULL):
 * the TPM's clock as it answered, for a caller that needs it anyway (a
 * login on a cached lease reads it once, here). */
a11_err tpm_check_alive(struct tpm *t, TPMS_TIME_INFO *now);

/* A lease as the TPM checks it (docs/protocol.md, "Leases"): the
 * approved policy starts with two PolicyCounterTimer, and PolicyAuthorize
 * with the approver's ticket ends the session. */
struct tpm_lease {
	uint64_t clock_end;       /* clock <= clock_end */
	uint32_t reset_count;     /* resetCount == reset_count */
	TPM2B_DIGEST approved;    /* the approved policy the steps must reach */
	TPM2B_NONCE policy_ref;
	TPM2B_NAME approver;      /* Name of the key that signed the approval */
	TPMT_TK_VERIFIED ticket;  /* from tpm_verify_approval */
};

/* How the TPM authorizes the user role of a key, beyond its authValue,
 * in the order the session runs the steps. */
struct tpm_policy {
	bool secret_endorsement;  /* PolicySecret(TPM_RH_ENDORSEMENT): EK-style keys */
	bool lease;               /* PolicyCounterTimer x2 ... PolicyAuthorize */
	struct tpm_lease terms;
	bool pcr;                 /* PolicyPCR over pcrs at the current values */
	TPML_PCR_SELECTION pcrs;
	bool auth_value;          /* PolicyAuthValue: the authValue is also needed */
};

/* A loaded object. Persistent objects are never flushed. */
struct tpm_key {
	ESYS_TR tr;
	bool transient;
	TPM2B_PUBLIC pub;
	TPM2B_NAME name;
	bool use_policy;          /* authorize with a policy session, not a password */
	struct tpm_policy policy;
	ESYS_TR session;          /* policy session kept between uses (ESYS_TR_NONE:
				   * none yet); the TPM resets it after each use */
	TPM2B_AUTH auth;          /* authValue given to tpm_load, for session HMACs */
	TPM2B_NONCE nonce_tpm;    /* session's last nonceTPM once src/tpm/sapi.c
				   * has used it (size 0: Esys's is current) */
};

/* Flush k (a transient) or close its handle, end its session, cleanse
 * it. t NULL: the connection is gone, and its handles with it. */
void tpm_key_release(struct tpm *t, struct tpm_key *k);

/* The digest a trial session reaches with policy p (PCRs at their current
 * values): what an object's authPolicy must be for p to unlock it. */
a11_err tpm_policy_trial(struct tpm *t, const struct tpm_policy *p, TPMI_ALG_HASH alg,
			 TPM2B_DIGEST *out);

/* TPM_EK_AUTO: the first EK whose certificate the TPM holds, ECC before
 * RSA (P-256, P-384, RSA-2048): ECDH makes credential activation and
 * wrapping to it several times cheaper than an RSA decryption. */
enum tpm_ek_kind { TPM_EK_RSA2048, TPM_EK_ECC_P256, TPM_EK_ECC_P384, TPM_EK_AUTO };
/* kind itself, or what TPM_EK_AUTO finds on this TPM (probed once per
 * connection); A11_ERR_TPM_NOT_FOUND if it holds no EK certificate. */
a11_err tpm_ek_resolve(struct tpm *t, enum tpm_ek_kind kind, enum tpm_ek_kind *out);
/* The EK certificate from its TCG NV index; *der is malloc'd. */
a11_err tpm_ek_cert(struct tpm *t, enum tpm_ek_kind kind, uint8_t **der, size_t *len);
/* The persistent EK of that kind (TPM2_ReadPublic of its TCG handle). */
a11_err tpm_ek_load(struct tpm *t, enum tpm_ek_kind kind, struct tpm_key *out);
/* The SRK: persistent (0x81000001 RSA, 0x81000002 ECC) if present,
 * else created from the TCG template. alg is TPM2_ALG_RSA or TPM2_ALG_ECC. */
a11_err tpm_srk_load(struct tpm *t, TPM2_ALG_ID alg, struct tpm_key *out);
/* The SRK to load a key made under it: the persistent one named only
 * (out->pub empty, its type unchecked: one ReadPublic fewer), else
 * tpm_srk_load's. A wrong persistent key fails the Load; the caller then
 * takes tpm_srk_load's. */
a11_err tpm_srk_name(struct tpm *t, TPM2_ALG_ID alg, struct tpm_key *out);
/* A fresh restricted signing key (ECDSA P-256 or RSASSA-2048, SHA-256)
 * as a primary of the endorsement hierarchy, so quotes carry real clocks. */
a11_err tpm_ak_create(struct tpm *t, TPM2_ALG_ID alg, struct tpm_key *out);

/* What identifies this TPM to a broker, read (and for the AK, an ECDSA
 * P-256 tpm_ak_create, created) at the first call and kept with the
 * connection until tpm_identity_forget or tpm_close. The objects stay the
 * connection's: use them, never release them. One user at a time. */
struct tpm_identity {
	enum tpm_ek_kind kind;
	uint8_t *ek_cert;         /* DER */
	size_t ek_cert_len;
	struct tpm_key ek, ak;
};
a11_err tpm_identity_get(struct tpm *t, enum tpm_ek_kind kind, struct tpm_identity **out);
/* After each use: ends the policy session the EK may have got; a use that
 * failed (ok false) forgets it all, so that the next one reads the TPM
 * afresh. */
void tpm_identity_done(struct tpm *t, bool ok);
void tpm_identity_forget(struct tpm *t);
/* A signing key born in the TPM under parent (RSA-2048 or P-256), with
 * authValue auth (may be NULL) and, if policy is not NULL, that authPolicy
 * (then only a session satisfying it authorizes use). *priv lets the caller
 * reload it. */
a11_err tpm_key_create(struct tpm *t, struct tpm_key *parent, TPM2_ALG_ID alg,
		       const TPM2B_AUTH *auth, const TPM2B_DIGEST *auth_policy,
		       const struct tpm_policy *policy, TPM2B_PRIVATE *priv, struct tpm_key *out);

/* TPM2_Import + TPM2_Load of a duplication blob. policy may be NULL
 * (password auth); auth is the object's authValue (may be NULL). */
struct tpm_import {
	const TPM2B_PUBLIC *pub;
	const TPM2B_PRIVATE *duplicate;
	const TPM2B_ENCRYPTED_SECRET *seed;
	const TPM2B_DATA *enc_key;
	const TPMT_SYM_DEF_OBJECT *sym;
};
a11_err tpm_import(struct tpm *t, struct tpm_key *parent, const struct tpm_import *in,
		   TPM2B_PRIVATE *priv);
a11_err tpm_load(struct tpm *t, struct tpm_key *parent, const TPM2B_PUBLIC *pub,
		 const TPM2B_PRIVATE *priv, const struct tpm_policy *policy,
		 const TPM2B_AUTH *auth, struct tpm_key *out);

/* PCR values in selection order (several TPM2_PCR_Read calls if needed). */
a11_err tpm_pcr_read(struct tpm *t, const TPML_PCR_SELECTION *sel,
		     struct a11_pcr_values *out);
a11_err tpm_quote(struct tpm *t, struct tpm_key *ak, const TPM2B_DATA *nonce,
		  const TPML_PCR_SELECTION *sel, TPM2B_ATTEST *attest,
		  TPMT_SIGNATURE *sig);
a11_err tpm_certify(struct tpm *t, struct tpm_key *ak, struct tpm_key *obj,
		    const TPM2B_DATA *nonce, TPM2B_ATTEST *attest, TPMT_SIGNATURE *sig);
a11_err tpm_activate_credential(struct tpm *t, struct tpm_key *ak, struct tpm_key *ek,
				const TPM2B_ID_OBJECT *cred,
				const TPM2B_ENCRYPTED_SECRET *secret, TPM2B_DIGEST *out);

/* scheme: TPM2_ALG_RSASSA, TPM2_ALG_RSAPSS or TPM2_ALG_ECDSA. */
a11_err tpm_sign(struct tpm *t, struct tpm_key *k, TPM2_ALG_ID scheme,
		 TPMI_ALG_HASH hash, const TPM2B_DIGEST *digest, TPMT_SIGNATURE *sig);
/* scheme: TPM2_ALG_OAEP (with hash and label, NULL for none),
 * TPM2_ALG_RSAES or TPM2_ALG_NULL (raw). The TPM appends a NUL to an OAEP
 * label that lacks one (Part 1 B.4): pass labels exactly as encrypted. */
a11_err tpm_rsa_decrypt(struct tpm *t, struct tpm_key *k, TPM2_ALG_ID scheme,
			TPMI_ALG_HASH hash, const TPM2B_DATA *label,
			const TPM2B_PUBLIC_KEY_RSA *in, TPM2B_PUBLIC_KEY_RSA *out);
a11_err tpm_unseal(struct tpm *t, struct tpm_key *k, TPM2B_SENSITIVE_DATA *out);
a11_err tpm_random(struct tpm *t, uint8_t *buf, size_t len);

/* TPM2_LoadExternal of the approver's public key in the owner hierarchy
 * (a NULL-hierarchy ticket does not satisfy PolicyAuthorize), then
 * TPM2_VerifySignature of digest: fills terms->ticket and terms->approver.
 * A11_ERR_SIGNATURE if the TPM rejects the signature. */
a11_err tpm_verify_approval(struct tpm *t, const TPM2B_PUBLIC *approver,
			    const TPM2B_DIGEST *digest, const TPMT_SIGNATURE *sig,
			    struct tpm_lease *terms);
/* TPM2_ReadClock. */
a11_err tpm_read_clock(struct tpm *t, TPMS_TIME_INFO *out);

/* The TPM's dictionary-attack state (TPM 2.0 Part 1 §19.8): one counter
 * for the whole TPM, so a lockout refuses every authValue of every key on
 * the host, whichever application's wrong PINs caused it. */
struct tpm_da {
	bool in_lockout;
	uint32_t failures;          /* TPM_PT_LOCKOUT_COUNTER */
	uint32_t max_tries;         /* TPM_PT_MAX_AUTH_FAIL */
	uint32_t interval_s;        /* one failure forgiven per interval (0: never) */
	uint32_t recovery_s;        /* lockoutAuth's own lockout */
};
a11_err tpm_da_state(struct tpm *t, struct tpm_da *out);

#endif
