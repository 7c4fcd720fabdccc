/* Internal state of attest11.so, shared by the files of src/p11.
 *
 * Locking (docs/pkcs11.md, "Threads and fork"):
 *  - mod.lock (the module lock) guards sessions, objects and login state.
 *    Holders never call the TPM or the network; functions that must be
 *    called with it held end in _inlock.
 *  - token->tpm_lock serializes one token's TPM traffic (login, sign,
 *    decrypt, random, a renewal's TPM commands). It is taken without
 *    mod.lock held; code that needs both takes tpm_lock first. fork()
 *    takes only this one, to drop the TPM connection: it never waits for
 *    the network or a file lock.
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
#define A11_STATE_DIR "/var/lib/attest11"

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
	char broker[2048];          /* one URL, or replicas' URLs joined by commas */
	char ca_file[4096];
	char tcti[512];
	long connect_timeout_ms, timeout_ms;
	char state_dir[4096];       /* "" : no sharing between processes */
	long renew_at_percent;      /* renew when this much of the lease has run */
	char ear_key[4096];         /* the broker's public EAR JWK; "": the EAR is not shown */
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
	/* Held through a login, a logout or a renewal (taken before
	 * tpm_lock): they never overlap, signatures never wait for it. */
	struct p11_mutex renew_lock;
	struct p11_mutex tpm_lock;
	struct tpm *tpm;              /* opened at first use, under tpm_lock */
	unsigned tpm_gen;             /* under tpm_lock: bumped when tpm is dropped */
	struct client *http;          /* under renew_lock: the broker's HTTPS client */
	/* Under mod.lock: */
	bool logged_in;
	unsigned generation;          /* bumped at every login and logout */
	int64_t renew_due;            /* wall clock; 0: no renewal planned */
	unsigned renew_failures;
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
	bool no_threads;              /* CKF_LIBRARY_CANT_CREATE_OS_THREADS */
	bool forked;                  /* set in a fork child: C_Initialize again */
	struct p11_mutex lock;
	struct p11_config conf;
	struct p11_token tokens[P11_MAX_TOKENS];
	size_t n_tokens;
	struct p11_session **sessions;
	size_t n_sessions;
	CK_ULONG next_handle;         /* sessions and objects; never reused */
	/* Under lock: the TPM's dictionary-attack state, read when it refused
	 * a PIN (one TPM and one counter for every token); a login clears it. */
	struct tpm_da da;
	bool da_known;
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
void token_after_fork_child(void);
CK_RV token_logout(struct p11_token *t);
/* The locks of token.c, for the renewal (src/p11/renew.c, lease.c). */
void token_tpm_enter(struct p11_token *t);
void token_tpm_leave(struct p11_token *t);
void token_renew_enter(struct p11_token *t);
void token_renew_leave(struct p11_token *t);
CK_RV token_open_tpm(struct p11_token *t);
/* With tpm_lock held: close t's connection (flush: what it loaded, first;
 * else forget the handles: the TPM lost them). The next use reopens. */
void token_drop_tpm(struct p11_token *t, bool flush);
/* With tpm_lock held, after an operation failed with r: if r may mean
 * the connection or the TPM's state is gone (checked with the TPM), drop
 * the connection and open another. True if the caller should retry. */
bool token_tpm_recover(struct p11_token *t, a11_err r);
struct attester_config token_attester_conf(struct p11_token *t, const char *pin);
CK_RV token_rv(a11_err e);
/* Rebuild t's objects from t->cred in place (tpm_lock held) and plan the
 * next renewal; logged_in false leaves the public ones. */
CK_RV token_show(struct p11_token *t, bool logged_in);

/* Leases (src/p11/lease.c), with renew_lock and tpm_lock held. */
/* A lease another process left in the state dir, opened with pin;
 * *found false if there is none worth using (then attest). */
CK_RV lease_open_cached(struct p11_token *t, const char *pin, bool *found);
/* The state dir's lock for t's credential: one process attests at a
 * time (*fd -1 when there is no sharing or no lock). */
a11_err lease_lock(const struct p11_token *t, int *fd);
void lease_unlock(int fd);
/* Share t->cred's lease with the host's other processes, if its
 * certificates pass attester_check_certs (they trust the file without
 * the network); A11_OK also when there is no sharing. */
a11_err lease_share(struct p11_token *t);
/* When to renew t->cred's lease (wall clock). */
int64_t lease_renew_due(const struct p11_token *t);
/* Public objects from the state dir, before any login (mod.lock free,
 * at C_Initialize). */
void lease_show_public(struct p11_token *t);
/* Renew t's lease (renew_lock held, tpm_lock not): from the state dir if
 * another process already did, else by a fresh attestation. */
a11_err lease_renew(struct p11_token *t);

/* The renewal thread (src/p11/renew.c). */
void renew_start(void);       /* after a login; once per module */
void renew_kick(void);        /* a renewal was brought forward */
/* Without a renewal thread (CKF_LIBRARY_CANT_CREATE_OS_THREADS): renew
 * t now if due, before an operation takes its TPM lock. */
void renew_inline(struct p11_token *t);
void renew_stop(void);        /* C_Finalize: stop and join */
void renew_forget(void);      /* fork child: the thread is the parent's */

/* Objects (src/p11/object.c). */
const CK_ATTRIBUTE *object_attr(const struct p11_object *o, CK_ATTRIBUTE_TYPE type);
struct p11_object *object_find_inlock(struct p11_session *s, CK_OBJECT_HANDLE h);

#endif
