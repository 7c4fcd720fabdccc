/* Policy digests as a TPM trial session computes them (Part 3 §23):
 * each command extends policyDigest with H(old || u32(commandCode) || ...). */
#include <string.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "hash.h"
#include "key.h"
#include "policy.h"

/* The running digest must already be one of alg's: extending a digest of
 * another algorithm gives a value no TPM session can reach. */
static a11_err check_pd(TPMI_ALG_HASH alg, const TPM2B_DIGEST *pd, size_t *ds)
{
	if (pd == NULL)
		return A11_ERR_ARG;
	if ((*ds = wire_digest_size(alg)) == 0)
		return A11_ERR_UNSUPPORTED;
	return pd->size == *ds ? A11_OK : A11_ERR_ARG;
}

static void put_u32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* pd = H(pd || a || b || c); empty parts may be NULL. */
static a11_err rehash(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd, const uint8_t *a, size_t a_len,
		      const uint8_t *b, size_t b_len, const uint8_t *c, size_t c_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	a11_err r = A11_ERR_CRYPTO;

	if (ctx == NULL) {
		r = A11_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, wire_md(alg), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, pd->buffer, pd->size) != 1 ||
	    (a_len && EVP_DigestUpdate(ctx, a, a_len) != 1) ||
	    (b_len && EVP_DigestUpdate(ctx, b, b_len) != 1) ||
	    (c_len && EVP_DigestUpdate(ctx, c, c_len) != 1) ||
	    EVP_DigestFinal_ex(ctx, pd->buffer, NULL) != 1)
		goto out;
	r = A11_OK;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* pd = H(pd || u32(cc) || a || b), the common shape of every update. */
static a11_err extend(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd, TPM2_CC cc,
		      const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	uint8_t ccb[4];

	put_u32(ccb, cc);
	return rehash(alg, pd, ccb, sizeof(ccb), a, a_len, b, b_len);
}

a11_err wire_policy_init(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd)
{
	size_t ds = wire_digest_size(alg);

	if (pd == NULL)
		return A11_ERR_ARG;
	if (ds == 0)
		return A11_ERR_UNSUPPORTED;
	memset(pd, 0, sizeof(*pd));
	pd->size = (UINT16)ds;
	return A11_OK;
}

static unsigned count_bank(const TPMS_PCR_SELECTION *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->sizeofSelect && i < TPM2_PCR_SELECT_MAX; i++)
		for (unsigned bit = 0; bit < 8; bit++)
			n += (s->pcrSelect[i] >> bit) & 1u;
	return n;
}

/* How many PCRs sel selects; -1 if it is larger than a TPM allows (the
 * marshaller would refuse it too, but the count must not overrun). */
static long count_selected(const TPML_PCR_SELECTION *sel)
{
	long n = 0;

	if (sel->count > TPM2_NUM_PCR_BANKS)
		return -1;
	for (UINT32 b = 0; b < sel->count; b++) {
		if (sel->pcrSelections[b].sizeofSelect > TPM2_PCR_SELECT_MAX)
			return -1;
		n += count_bank(&sel->pcrSelections[b]);
	}
	return n;
}

/* H(v[0] || v[1] || ...) after checking there is one value per selected
 * PCR, each the size of its bank's digest, in selection order. */
static a11_err pcr_values_digest(TPMI_ALG_HASH alg, const TPML_PCR_SELECTION *sel,
				 const struct a11_pcr_values *values, uint8_t *out)
{
	EVP_MD_CTX *ctx = NULL;
	uint32_t k = 0;
	a11_err r = A11_ERR_ARG;

	if (count_selected(sel) != (long)values->count || values->count > A11_PCR_MAX_VALUES)
		goto out;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = A11_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, wire_md(alg), NULL) != 1) {
		r = A11_ERR_CRYPTO;
		goto out;
	}
	for (UINT32 b = 0; b < sel->count; b++) {
		size_t ds = wire_digest_size(sel->pcrSelections[b].hash);
		unsigned bank = count_bank(&sel->pcrSelections[b]);

		for (unsigned j = 0; j < bank; j++, k++) {
			if (ds == 0 || values->v[k].size != ds) {
				r = ds == 0 ? A11_ERR_UNSUPPORTED : A11_ERR_ARG;
				goto out;
			}
			if (EVP_DigestUpdate(ctx, values->v[k].buffer, ds) != 1) {
				r = A11_ERR_CRYPTO;
				goto out;
			}
		}
	}
	r = EVP_DigestFinal_ex(ctx, out, NULL) == 1 ? A11_OK : A11_ERR_CRYPTO;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

a11_err wire_policy_pcr(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd,
			const TPML_PCR_SELECTION *sel,
			const struct a11_pcr_values *values)
{
	uint8_t selbuf[sizeof(TPML_PCR_SELECTION)];
	uint8_t vd[EVP_MAX_MD_SIZE];
	size_t off = 0, ds;
	a11_err r;

	if ((r = check_pd(alg, pd, &ds)) != A11_OK)
		return r;
	if (sel == NULL || values == NULL)
		return A11_ERR_ARG;
	if ((r = pcr_values_digest(alg, sel, values, vd)) != A11_OK)
		return r;
	/* The TPM hashes the selection exactly as marshalled on the wire. */
	if (Tss2_MU_TPML_PCR_SELECTION_Marshal(sel, selbuf, sizeof(selbuf), &off) != TSS2_RC_SUCCESS)
		return A11_ERR_ARG;
	return extend(alg, pd, TPM2_CC_PolicyPCR, selbuf, off, vd, ds);
}

a11_err wire_policy_secret(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd,
			   const TPM2B_NAME *auth_name, const TPM2B_NONCE *policy_ref)
{
	size_t ds;
	size_t ref_len = policy_ref ? policy_ref->size : 0;
	a11_err r;

	if ((r = check_pd(alg, pd, &ds)) != A11_OK)
		return r;
	if (auth_name == NULL || auth_name->size > sizeof(auth_name->name) ||
	    ref_len > sizeof(policy_ref->buffer))
		return A11_ERR_ARG;
	/* PolicyUpdate: H(H(old || cc || name) || policyRef), even for an
	 * empty policyRef. */
	if ((r = extend(alg, pd, TPM2_CC_PolicySecret, auth_name->name, auth_name->size,
			NULL, 0)) != A11_OK)
		return r;
	return rehash(alg, pd, ref_len ? policy_ref->buffer : NULL, ref_len, NULL, 0, NULL, 0);
}

a11_err wire_policy_authvalue(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd)
{
	size_t ds;
	a11_err r;

	if ((r = check_pd(alg, pd, &ds)) != A11_OK)
		return r;
	return extend(alg, pd, TPM2_CC_PolicyAuthValue, NULL, 0, NULL, 0);
}

/* H(a || b), through rehash from an empty running digest. */
static a11_err hash_of(TPMI_ALG_HASH alg, const uint8_t *a, size_t a_len, const uint8_t *b,
		       size_t b_len, TPM2B_DIGEST *out)
{
	a11_err r;

	out->size = 0;
	if ((r = rehash(alg, out, a, a_len, b, b_len, NULL, 0)) == A11_OK)
		out->size = (UINT16)wire_digest_size(alg);
	return r;
}

/* PolicyCounterTimer: H(old || cc || H(operandB || u16 offset || u16 op)). */
a11_err wire_policy_countertimer(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd, const uint8_t *operand,
				 size_t len, uint16_t offset, TPM2_EO op)
{
	const uint8_t tail[4] = { (uint8_t)(offset >> 8), (uint8_t)offset, (uint8_t)(op >> 8),
				  (uint8_t)op };
	TPM2B_DIGEST args;
	size_t ds;
	a11_err r;

	if ((r = check_pd(alg, pd, &ds)) != A11_OK)
		return r;
	if (operand == NULL || len == 0 || len > sizeof(TPMU_HA))
		return A11_ERR_ARG;
	if ((r = hash_of(alg, operand, len, tail, sizeof(tail), &args)) != A11_OK)
		return r;
	return extend(alg, pd, TPM2_CC_PolicyCounterTimer, args.buffer, args.size, NULL, 0);
}

a11_err wire_policy_authorize(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd, const TPM2B_NAME *key_name,
			      const uint8_t *policy_ref, size_t ref_len)
{
	size_t ds;
	a11_err r;

	if ((r = check_pd(alg, pd, &ds)) != A11_OK)
		return r;
	if (key_name == NULL || key_name->size > sizeof(key_name->name) ||
	    ref_len > sizeof(TPMU_HA))
		return A11_ERR_ARG;
	/* The TPM resets policyDigest first: what came before is replaced by
	 * the approval. */
	memset(pd->buffer, 0, ds);
	if ((r = extend(alg, pd, TPM2_CC_PolicyAuthorize, key_name->name, key_name->size, NULL,
			0)) != A11_OK)
		return r;
	return rehash(alg, pd, policy_ref, ref_len, NULL, 0, NULL, 0);
}

a11_err wire_key_policy(const TPMT_PUBLIC *approver, const uint8_t *policy_ref, size_t ref_len,
			TPM2B_DIGEST *out)
{
	TPM2B_NAME name;
	a11_err r;

	if ((r = wire_name(approver, &name)) != A11_OK ||
	    (r = wire_policy_init(TPM2_ALG_SHA256, out)) != A11_OK)
		return r;
	return wire_policy_authorize(TPM2_ALG_SHA256, out, &name, policy_ref, ref_len);
}

static void put_u64(uint8_t b[8], uint64_t v)
{
	put_u32(b, (uint32_t)(v >> 32));
	put_u32(b + 4, (uint32_t)v);
}

a11_err wire_lease_policy(const struct wire_lease_terms *t, TPM2B_DIGEST *out)
{
	uint8_t clock[8], reset[4];
	a11_err r;

	put_u64(clock, t->clock_end);
	put_u32(reset, t->reset_count);
	if ((r = wire_policy_init(TPM2_ALG_SHA256, out)) != A11_OK ||
	    (r = wire_policy_countertimer(TPM2_ALG_SHA256, out, clock, sizeof(clock),
					  WIRE_TIME_CLOCK, TPM2_EO_UNSIGNED_LE)) != A11_OK ||
	    (r = wire_policy_countertimer(TPM2_ALG_SHA256, out, reset, sizeof(reset),
					  WIRE_TIME_RESET_COUNT, TPM2_EO_EQ)) != A11_OK)
		return r;
	if (t->pcrs != NULL &&
	    (r = wire_policy_pcr(TPM2_ALG_SHA256, out, t->pcrs, t->values)) != A11_OK)
		return r;
	return t->auth_value ? wire_policy_authvalue(TPM2_ALG_SHA256, out) : A11_OK;
}

a11_err wire_approval_digest(const TPM2B_DIGEST *approved, const uint8_t *policy_ref,
			     size_t ref_len, TPM2B_DIGEST *out)
{
	if (approved == NULL || approved->size > sizeof(approved->buffer) ||
	    ref_len > sizeof(TPMU_HA))
		return A11_ERR_ARG;
	/* aHash = H(approvedPolicy || policyRef): no command code. */
	return hash_of(TPM2_ALG_SHA256, approved->buffer, approved->size, policy_ref, ref_len, out);
}
