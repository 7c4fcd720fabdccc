/* The state of attest11.so, shared by the files of src/p11: the
 * configuration, tokens, objects, sessions and operations, and the one
 * `mod`. Functions are declared in the header of the file that defines
 * them; the locks named in the fields' comments, and their order, are in
 * src/p11/locks.h. */
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
#include "mutex.h"

#define P11_LABEL_MAX 32
#define P11_MAX_TOKENS 16
#define A11_STATE_DIR "/var/lib/attest11"

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
	char ear_key[4096];         /* the broker's public EAR JWK (set); "": not shown */
	char eventlog[4096];        /* the firmware event log (ATTESTER_EVENTLOG_DEFAULT) */
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
	struct p11_mutex renew_lock;  /* a login, logout or renewal (locks.h) */
	struct p11_mutex tpm_lock;    /* the TPM connection (locks.h) */
	/* Under tpm_lock: */
	struct tpm *tpm;              /* opened at first use */
	unsigned tpm_gen;             /* bumped when tpm is dropped */
	TPMS_TIME_INFO clock;         /* the TPM's, at tpm's last check */
	/* Valid while logged_in. Written with tpm_lock held (its release also
	 * with renew_lock: a login, renewal or logout); read under tpm_lock,
	 * or its release under renew_lock (a renewal between TPM commands). */
	struct attester_result cred;
	struct attester_result *loading; /* a login's release while the attester
				       * loads it (fork flushes it too) */
	/* Under renew_lock: */
	struct client *http;          /* the broker's HTTPS client */
	/* Under mod.lock: */
	bool logged_in;
	unsigned generation;          /* bumped at every login and logout */
	int64_t renew_due;            /* wall clock; 0: no renewal planned */
	unsigned renew_failures;
	struct p11_object **objects;
	size_t n_objects;
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

#endif
