/* Internal state of attest11.so, shared by the files of src/p11.
 *
 * Locking (docs/pkcs11.md, "Threads and fork"):
 *  - mod.lock (the module lock) guards sessions, objects and login state.
 *    Holders never call the TPM or the network; functions that must be
 *    called with it held end in _inlock.
 *  - token->tpm_lock serializes one token's TPM and broker traffic (login,
 *    sign, decrypt, random). It is taken without mod.lock held; code that
 *    needs both takes tpm_lock first.
 *  - A session is used by one thread at a time (the application's duty
 *    per PKCS#11 §5.1); a reference count keeps it alive while in use. */
#ifndef A11_P11_H
#define A11_P11_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/evp.h>

#include "../../include/attest11/pkcs11.h"
#include "../attester/attester.h"
#include "../tpm/tpm.h"

#define P11_LABEL_MAX 32
#define P11_MAX_TOKENS 16

/* One mutex: pthreads, or the application's callbacks (C_Initialize). */
struct p11_mutex {
	void *m;
};
void p11_mutex_init(struct p11_mutex *mx);
void p11_mutex_destroy(struct p11_mutex *mx);
void p11_lock(struct p11_mutex *mx);
void p11_unlock(struct p11_mutex *mx);

struct p11_token_conf {
	char label[P11_LABEL_MAX + 1];
	char credential[PROTO_NAME_MAX + 1];
	CK_KEY_TYPE key_type;       /* CKK_RSA or CKK_EC: which mechanisms to offer */
	enum tpm_ek_kind ek;
	bool wrap_to_ek;
};

struct p11_config {
	char broker[512];
	char ca_file[4096];
	char tcti[512];
	long connect_timeout_ms, timeout_ms;
	size_t n_tokens;
	struct p11_token_conf tokens[P11_MAX_TOKENS];
};

/* An object: its attributes, and for key objects the public key. */
struct p11_object {
	CK_OBJECT_HANDLE handle;
	CK_OBJECT_CLASS cls;
	bool private_obj;             /* CKA_PRIVATE: needs login to be seen */
	CK_ATTRIBUTE *attrs;          /* values malloc'd */
	size_t n_attrs;
	EVP_PKEY *pub;                /* key objects: the public key */
};

struct p11_token {
	CK_SLOT_ID slot;
	const struct p11_token_conf *conf;
	struct p11_mutex tpm_lock;
	pthread_t tpm_holder;         /* valid while tpm_held */
	bool tpm_held;
	bool fork_skipped;            /* fork() from inside our own TPM code */
	struct tpm *tpm;              /* opened at first use, under tpm_lock */
	/* Under mod.lock: */
	bool logged_in;
	unsigned generation;          /* bumped at every login and logout */
	struct p11_object **objects;
	size_t n_objects;
	/* Under tpm_lock, valid while logged_in: */
	struct attester_result cred;
};

/* The key an operation uses, copied out of its object at *Init. */
struct p11_key {
	CK_OBJECT_HANDLE handle;
	CK_KEY_TYPE type;             /* CKK_RSA, CKK_EC */
	CK_OBJECT_CLASS cls;          /* private: TPM operation; public: software */
	size_t bits;                  /* modulus bits or curve order bits */
	EVP_PKEY *pub;                /* reference held by the operation */
	struct p11_token *token;
	unsigned generation;          /* token generation at *Init */
	const CK_MECHANISM_TYPE *allowed;
	size_t n_allowed;
};

enum p11_op_kind { OP_NONE, OP_SIGN, OP_VERIFY, OP_DECRYPT, OP_DIGEST };

/* An active operation of a session (src/p11/ops.c owns its insides). */
struct p11_op {
	enum p11_op_kind kind;
	CK_MECHANISM_TYPE mech;
	struct p11_key key;
	EVP_MD_CTX *md;               /* hash-and-sign / digest: running hash */
	bool multipart;               /* *Update seen: single-part call now illegal */
	uint8_t *buf;                 /* raw mechanisms: data collected by *Update */
	size_t buf_len;
	/* Mechanism parameters, validated at *Init. */
	TPMI_ALG_HASH hash;           /* PSS/OAEP hash, or the hash of hash-and-sign */
	TPMI_ALG_HASH mgf_hash;
	size_t salt_len;
	uint8_t *label;               /* OAEP source data */
	size_t label_len;
};

struct p11_session {
	CK_SESSION_HANDLE handle;
	struct p11_token *token;
	CK_FLAGS flags;               /* CKF_RW_SESSION | CKF_SERIAL_SESSION */
	unsigned refs;                /* under mod.lock */
	bool closed;
	struct p11_op op;
	CK_OBJECT_HANDLE *found;      /* C_FindObjects results */
	size_t n_found, found_pos;
	bool finding;
};

/* The module's one state. */
struct p11_global {
	bool initialized;
	bool forked;                  /* set in a fork child: C_Initialize again */
	struct p11_mutex lock;
	struct p11_config conf;
	struct p11_token tokens[P11_MAX_TOKENS];
	size_t n_tokens;
	struct p11_session **sessions;
	size_t n_sessions;
	CK_ULONG next_handle;         /* sessions and objects; never reused */
};

extern struct p11_global mod;

/* Token-level TPM work (src/p11/token.c): take tpm_lock, check that the
 * token is still logged in at key->generation (else CKR_USER_NOT_LOGGED_IN),
 * run the key's policy session, call the TPM, map the error. */
CK_RV token_sign(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		 const TPM2B_DIGEST *digest, TPMT_SIGNATURE *sig);
/* scheme TPM2_ALG_OAEP (hash), TPM2_ALG_RSAES or TPM2_ALG_NULL (raw). */
CK_RV token_decrypt(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		    const uint8_t *label, size_t label_len, const TPM2B_PUBLIC_KEY_RSA *in,
		    TPM2B_PUBLIC_KEY_RSA *out);
CK_RV token_random(struct p11_token *t, uint8_t *buf, size_t len);
CK_RV token_login(struct p11_token *t, const char *pin);
void token_before_fork(void);
void token_after_fork_parent(void);
CK_RV token_logout(struct p11_token *t);

/* Objects (src/p11/object.c). */
const CK_ATTRIBUTE *object_attr(const struct p11_object *o, CK_ATTRIBUTE_TYPE type);
struct p11_object *object_find_inlock(struct p11_session *s, CK_OBJECT_HANDLE h);

#endif
