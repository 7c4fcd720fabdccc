/* Attestation results as EAR (draft-ietf-rats-ear) with an AR4SI
 * trustworthiness vector, signed as a JWT (ES256) with the verifier key. */
#ifndef A11_BROKER_EAR_H
#define A11_BROKER_EAR_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define EAR_PROFILE "tag:github.com,2023:veraison/ear"

enum ar4si_claim {
	AR_INSTANCE_IDENTITY, AR_CONFIGURATION, AR_EXECUTABLES, AR_FILE_SYSTEM,
	AR_HARDWARE, AR_RUNTIME_OPAQUE, AR_STORAGE_OPAQUE, AR_SOURCED_DATA, AR__COUNT
};

/* AR4SI values this verifier uses. */
enum { AR_NO_CLAIM = 0, AR_AFFIRMING = 2, AR_WARNING = 32, AR_CONTRAINDICATED = 96,
       AR_UNRECOGNIZED = 97, AR_CRYPTO_FAILED = 99 };

enum ear_status { EAR_NONE, EAR_AFFIRMING, EAR_WARNING, EAR_CONTRAINDICATED };

struct ear {
	int64_t iat;
	uint8_t nonce[64];
	size_t nonce_len;
	char policy_id[160];          /* "attest11:<credential>:<policy version>" */
	int tv[AR__COUNT];            /* AR_NO_CLAIM where nothing was appraised */
};

/* Worst tier among the claims (0 → none, 2..31 affirming, 32..95 warning,
 * 96..127 contraindicated); EAR_NONE if no claim at all. */
enum ear_status ear_status(const struct ear *e);
const char *ear_status_name(enum ear_status s);  /* "affirming", ... */

struct ear_signer;
/* Create a P-256 signing key: private JWK at priv_path (0600), public JWK at pub_path. */
a11_err ear_keygen(const char *priv_path, const char *pub_path);
a11_err ear_signer_load(const char *priv_path, struct ear_signer **out);
void ear_signer_free(struct ear_signer *s);
/* *jws malloc'd compact serialization. */
a11_err ear_sign(struct ear_signer *s, const struct ear *e, char **jws);
/* Check the JWS with a public JWK (JSON text) and decode it back; rejects
 * any other profile or algorithm. A11_ERR_SIGNATURE on a bad signature. */
a11_err ear_verify(const char *pub_jwk, const char *jws, struct ear *out);

#endif
