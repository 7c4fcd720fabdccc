/* The operation state machine of a session: ops_init's checks, *Update,
 * and the producing calls with PKCS#11's two-call buffer convention
 * (§5.2). Which TPM command a mechanism becomes is decided in ops_rsa.c
 * and ops_ec.c; mechanism tables and parameters live in ops_mech.c.
 *
 * Rules kept here for every kind of operation:
 *  - the arguments are checked here and nowhere else (ops_entry.c only finds
 *    the session and key): a NULL pointer with a non-zero length is
 *    CKR_ARGUMENTS_BAD, an empty signature is a signature of the wrong
 *    length (CKR_SIGNATURE_LEN_RANGE);
 *  - any error ends the operation, except the size query (out == NULL)
 *    and CKR_BUFFER_TOO_SMALL, which leave it exactly as it was;
 *  - output sizes are known before the TPM is asked (signatures have a
 *    fixed length; decryption answers the modulus length as the upper
 *    bound), so a size query never costs a TPM command;
 *  - OpenSSL errors raised on the way are popped again, because the
 *    module runs inside TLS servers that read the thread's error queue. */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "ops_int.h"

/* OP_DECRYPT keeps this in op->buf: the ciphertext collected through
 * *Update, and the plaintext of a call answered CKR_BUFFER_TOO_SMALL, so
 * that the retry returns it instead of asking the TPM a second time. */
struct dec_state {
	size_t ct_len;
	bool cached;                  /* pt holds the plaintext of ct */
	size_t pt_len;
	uint8_t ct[OPS_RSA_MAX_BYTES];
	uint8_t pt[OPS_RSA_MAX_BYTES];
};

static const uint8_t no_data[1];

bool ops_put_padded(uint8_t *dst, size_t dlen, const uint8_t *src, size_t slen)
{
	while (slen > dlen && *src == 0) {
		src++;
		slen--;
	}
	if (slen > dlen)
		return false;
	memset(dst, 0, dlen - slen);
	if (slen > 0)
		memcpy(dst + dlen - slen, src, slen);
	return true;
}

void ops_clear(struct p11_op *op)
{
	size_t cap = op->kind == OP_DECRYPT ? sizeof(struct dec_state) : OPS_RAW_MAX;

	EVP_PKEY_free(op->key.pub);
	/* EVP_MD_CTX_free cleanses the hash state (it holds message bytes). */
	EVP_MD_CTX_free(op->md);
	OPENSSL_clear_free(op->buf, cap);
	OPENSSL_clear_free(op->label, op->label_len);
	memset(op, 0, sizeof(*op));
}

static CK_FLAGS kind_flag(enum p11_op_kind kind)
{
	switch (kind) {
	case OP_SIGN: return CKF_SIGN;
	case OP_VERIFY: return CKF_VERIFY;
	case OP_DECRYPT: return CKF_DECRYPT;
	case OP_DIGEST: return CKF_DIGEST;
	default: return 0;
	}
}

static bool mech_allowed(const struct p11_key *key, CK_MECHANISM_TYPE m)
{
	if (key->n_allowed == 0)
		return true;
	for (size_t i = 0; i < key->n_allowed; i++)
		if (key->allowed[i] == m)
			return true;
	return false;
}

/* Private keys live in the TPM and sign or decrypt; public keys only
 * verify (in software). */
static bool class_permits(CK_OBJECT_CLASS cls, enum p11_op_kind kind)
{
	if (cls == CKO_PRIVATE_KEY)
		return kind == OP_SIGN || kind == OP_DECRYPT;
	return cls == CKO_PUBLIC_KEY && kind == OP_VERIFY;
}

static CK_RV check_key(struct p11_op *op, const struct ops_mech *d, enum p11_op_kind kind,
		       const struct p11_key *key)
{
	int want = key != NULL && key->type == CKK_RSA ? EVP_PKEY_RSA : EVP_PKEY_EC;
	int bits;

	if (key == NULL || key->pub == NULL)
		return CKR_KEY_HANDLE_INVALID;
	if (key->type != d->key || EVP_PKEY_get_base_id(key->pub) != want)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (!class_permits(key->cls, kind))
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if (!mech_allowed(key, d->type))
		return CKR_MECHANISM_INVALID;
	/* Sizes come from the public key itself: it is what verification and
	 * the encodings use, whatever the object's attributes say. */
	bits = EVP_PKEY_get_bits(key->pub);
	if (bits <= 0 || !ops_key_size_ok(key->type, (size_t)bits))
		return CKR_KEY_SIZE_RANGE;
	if (EVP_PKEY_up_ref(key->pub) != 1)
		return CKR_HOST_MEMORY;
	op->key = *key;
	op->key.bits = (size_t)bits;
	/* The list belongs to the object, which may go away before the
	 * operation does; it was only needed here. */
	op->key.allowed = NULL;
	op->key.n_allowed = 0;
	return CKR_OK;
}

static CK_RV init_state(struct p11_op *op, const struct ops_mech *d)
{
	/* Hash-and-sign mechanisms and digests hash as data arrives. */
	if (d->hash != TPM2_ALG_NULL) {
		op->md = EVP_MD_CTX_new();
		if (op->md == NULL)
			return CKR_HOST_MEMORY;
		if (EVP_DigestInit_ex(op->md, ops_md(d->hash), NULL) != 1)
			return CKR_FUNCTION_FAILED;
	}
	if (op->kind == OP_DECRYPT) {
		op->buf = OPENSSL_zalloc(sizeof(struct dec_state));
		if (op->buf == NULL)
			return CKR_HOST_MEMORY;
	}
	return CKR_OK;
}

CK_RV ops_init(struct p11_op *op, enum p11_op_kind kind, const CK_MECHANISM *m,
	       const struct p11_key *key)
{
	const struct ops_mech *d;
	CK_RV rv;

	if (op->kind != OP_NONE)
		return CKR_OPERATION_ACTIVE;
	if (m == NULL)
		return CKR_ARGUMENTS_BAD;
	d = ops_mech_find(m->mechanism);
	if (d == NULL || (d->flags & kind_flag(kind)) == 0)
		return CKR_MECHANISM_INVALID;
	memset(op, 0, sizeof(*op));
	if (kind != OP_DIGEST) {
		rv = check_key(op, d, kind, key);
		if (rv != CKR_OK)
			goto out;
	}
	op->kind = kind;
	op->mech = d->type;
	rv = ops_mech_params(op, d, m);
	if (rv != CKR_OK)
		goto out;
	rv = init_state(op, d);
out:
	if (rv != CKR_OK)
		ops_clear(op);
	return rv;
}

static CK_RV raw_collect(struct p11_op *op, const CK_BYTE *data, size_t len)
{
	if (op->buf == NULL) {
		op->buf = OPENSSL_zalloc(OPS_RAW_MAX);
		if (op->buf == NULL)
			return CKR_HOST_MEMORY;
	}
	if (len > OPS_RAW_MAX - op->buf_len)
		return CKR_DATA_LEN_RANGE;
	if (len > 0)
		memcpy(op->buf + op->buf_len, data, len);
	op->buf_len += len;
	return CKR_OK;
}

/* C_DecryptUpdate: RSA yields nothing before the whole ciphertext is in,
 * so the caller reports an empty part and C_DecryptFinal decrypts. */
static CK_RV dec_collect(struct p11_op *op, const CK_BYTE *data, size_t len)
{
	struct dec_state *st = (struct dec_state *)(void *)op->buf;

	if (len > ops_key_bytes(op) - st->ct_len)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	if (st->cached) {
		OPENSSL_cleanse(st->pt, sizeof(st->pt));
		st->cached = false;
	}
	if (len > 0)
		memcpy(st->ct + st->ct_len, data, len);
	st->ct_len += len;
	return CKR_OK;
}

CK_RV ops_update(struct p11_op *op, const CK_BYTE *data, CK_ULONG len)
{
	CK_RV rv;

	if (op->kind == OP_NONE)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (data == NULL && len != 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	op->multipart = true;
	if (op->md != NULL)
		rv = EVP_DigestUpdate(op->md, data, len) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
	else if (op->kind == OP_DECRYPT)
		rv = dec_collect(op, data, len);
	else
		rv = raw_collect(op, data, len);
out:
	if (rv != CKR_OK)
		ops_clear(op);
	return rv;
}

/* The checks every producing call makes before anything else. */
static CK_RV call_ok(const struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
		     bool out_len_ok)
{
	if (!out_len_ok || (single && data == NULL && len != 0))
		return CKR_ARGUMENTS_BAD;
	/* C_Sign after C_SignUpdate (etc.) is out of sequence. */
	if (single && op->multipart)
		return CKR_OPERATION_ACTIVE;
	return CKR_OK;
}

/* §5.2 sizing: true if the call ends here with *rv, the operation intact. */
static bool size_only(CK_BYTE_PTR out, CK_ULONG_PTR out_len, size_t need, CK_RV *rv)
{
	if (out != NULL && *out_len >= need)
		return false;
	*rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
	*out_len = need;
	return true;
}

/* The bytes the mechanism works on: the finished hash for hash-and-sign
 * and digests, else the data of a single call or what *Update collected. */
static CK_RV op_input(struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
		      uint8_t *dg, const uint8_t **in, size_t *in_len)
{
	unsigned int n;

	if (op->md == NULL) {
		*in = single ? data : op->buf;
		*in_len = single ? len : op->buf_len;
		if (*in == NULL)
			*in = no_data;
		return CKR_OK;
	}
	if (single && EVP_DigestUpdate(op->md, data, len) != 1)
		return CKR_FUNCTION_FAILED;
	if (EVP_DigestFinal_ex(op->md, dg, &n) != 1)
		return CKR_FUNCTION_FAILED;
	*in = dg;
	*in_len = n;
	return CKR_OK;
}

static size_t sig_size(const struct p11_op *op)
{
	return op->key.type == CKK_EC ? 2 * ops_key_bytes(op) : ops_key_bytes(op);
}

CK_RV ops_sign(struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
	       CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	uint8_t dg[EVP_MAX_MD_SIZE];
	const uint8_t *in;
	size_t in_len;
	CK_RV rv;

	if (op->kind != OP_SIGN)
		return CKR_OPERATION_NOT_INITIALIZED;
	ERR_set_mark();
	rv = call_ok(op, single, data, len, out_len != NULL);
	if (rv != CKR_OK)
		goto out;
	if (size_only(out, out_len, sig_size(op), &rv))
		goto keep;
	rv = op_input(op, single, data, len, dg, &in, &in_len);
	if (rv != CKR_OK)
		goto out;
	if (op->key.type == CKK_EC)
		rv = ops_ec_sign(op, in, in_len, out);
	else
		rv = ops_rsa_sign(op, in, in_len, out);
	if (rv == CKR_OK)
		*out_len = sig_size(op);
out:
	OPENSSL_cleanse(dg, sizeof(dg));
	ops_clear(op);
keep:
	ERR_pop_to_mark();
	return rv;
}

CK_RV ops_verify(struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
		 const CK_BYTE *sig, CK_ULONG sig_len)
{
	uint8_t dg[EVP_MAX_MD_SIZE];
	const uint8_t *in;
	size_t in_len;
	CK_RV rv;

	if (op->kind != OP_VERIFY)
		return CKR_OPERATION_NOT_INITIALIZED;
	ERR_set_mark();
	rv = call_ok(op, single, data, len, true);
	if (rv == CKR_OK && sig == NULL && sig_len != 0)
		rv = CKR_ARGUMENTS_BAD;
	if (rv != CKR_OK)
		goto out;
	rv = op_input(op, single, data, len, dg, &in, &in_len);
	if (rv != CKR_OK)
		goto out;
	if (sig == NULL)
		sig = no_data;
	if (op->key.type == CKK_EC)
		rv = ops_ec_verify(op, in, in_len, sig, sig_len);
	else
		rv = ops_rsa_verify(op, in, in_len, sig, sig_len);
out:
	OPENSSL_cleanse(dg, sizeof(dg));
	ops_clear(op);
	ERR_pop_to_mark();
	return rv;
}

CK_RV ops_digest(struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
		 CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	uint8_t dg[EVP_MAX_MD_SIZE];
	const uint8_t *in;
	size_t in_len;
	CK_RV rv;

	if (op->kind != OP_DIGEST)
		return CKR_OPERATION_NOT_INITIALIZED;
	rv = call_ok(op, single, data, len, out_len != NULL);
	if (rv != CKR_OK)
		goto out;
	if (size_only(out, out_len, (size_t)EVP_MD_CTX_get_size(op->md), &rv))
		return rv;
	rv = op_input(op, single, data, len, dg, &in, &in_len);
	if (rv != CKR_OK)
		goto out;
	memcpy(out, in, in_len);
	*out_len = in_len;
out:
	ops_clear(op);
	return rv;
}

/* Whether the cached plaintext answers this call: a Final retry always
 * does; a single-part retry must bring the same ciphertext. */
static bool cache_hit(struct dec_state *st, bool single, const CK_BYTE *data, size_t len)
{
	if (!st->cached)
		return false;
	if (!single || (len == st->ct_len && memcmp(data, st->ct, len) == 0))
		return true;
	OPENSSL_cleanse(st->pt, sizeof(st->pt));
	st->cached = false;
	return false;
}

static CK_RV dec_run(struct p11_op *op, struct dec_state *st, bool single, const CK_BYTE *data,
		     size_t len)
{
	const uint8_t *ct = single ? data : st->ct;
	size_t k = ops_key_bytes(op);
	CK_RV rv;

	if ((single ? len : st->ct_len) != k)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	rv = ops_rsa_decrypt(op, ct, k, st->pt, &st->pt_len);
	if (rv != CKR_OK)
		return rv;
	if (single)
		memcpy(st->ct, data, k);
	st->ct_len = k;
	st->cached = true;
	return CKR_OK;
}

CK_RV ops_decrypt(struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
		  CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct dec_state *st = (struct dec_state *)(void *)op->buf;
	CK_RV rv;

	if (op->kind != OP_DECRYPT)
		return CKR_OPERATION_NOT_INITIALIZED;
	ERR_set_mark();
	rv = call_ok(op, single, data, len, out_len != NULL);
	if (rv != CKR_OK)
		goto out;
	if (!cache_hit(st, single, data, len)) {
		/* The modulus length bounds every plaintext (§5.2 allows an
		 * upper bound), so sizing needs no TPM. */
		if (out == NULL) {
			*out_len = ops_key_bytes(op);
			goto keep;
		}
		rv = dec_run(op, st, single, data, len);
		if (rv != CKR_OK)
			goto out;
	}
	if (size_only(out, out_len, st->pt_len, &rv))
		goto keep;
	if (st->pt_len > 0)
		memcpy(out, st->pt, st->pt_len);
	*out_len = st->pt_len;
out:
	ops_clear(op);
keep:
	ERR_pop_to_mark();
	return rv;
}
