/* The lease members both messages share (docs/protocol.md, "Leases"):
 * "lease_anchor" in the challenge response, "approval" in a release. */
#include <string.h>

#include "json.h"
#include "proto.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)

a11_err j_put_anchor(json_t *o, const char *key, const struct lease_anchor *in)
{
	json_t *a = json_object();
	a11_err r = a ? A11_OK : A11_ERR_NOMEM;

	TRY(j_put_TPM2B_PUBLIC(a, "approver", &in->approver));
	TRY(j_put_bytes(a, "policy_ref", in->policy_ref, sizeof(in->policy_ref)));
	r = json_object_set_new(o, key, a) == 0 ? A11_OK : A11_ERR_NOMEM;
	a = NULL;
out:
	json_decref(a);
	return r;
}

a11_err j_get_anchor(json_t *o, const char *key, struct lease_anchor *out)
{
	json_t *a = json_object_get(o, key);
	size_t n = 0;
	a11_err r;

	if (!json_is_object(a))
		return A11_ERR_PARSE;
	if ((r = j_get_TPM2B_PUBLIC(a, "approver", &out->approver)) != A11_OK ||
	    (r = j_bytes(a, "policy_ref", out->policy_ref, sizeof(out->policy_ref), &n)) != A11_OK)
		return A11_ERR_PARSE;
	return n == sizeof(out->policy_ref) ? A11_OK : A11_ERR_PARSE;
}

a11_err j_put_approval(json_t *o, const char *key, const struct approval *in)
{
	json_t *a = json_object();
	a11_err r = a ? A11_OK : A11_ERR_NOMEM;

	TRY(j_put_anchor(a, "anchor", &in->anchor));
	TRY(json_object_set_new(a, "clock_end", json_integer((json_int_t)in->clock_end)) == 0
		    ? A11_OK : A11_ERR_NOMEM);
	TRY(json_object_set_new(a, "reset_count", json_integer(in->reset_count)) == 0
		    ? A11_OK : A11_ERR_NOMEM);
	TRY(j_put_bytes(a, "approved_policy", in->approved.buffer, in->approved.size));
	TRY(j_put_TPMT_SIGNATURE(a, "signature", &in->signature));
	r = json_object_set_new(o, key, a) == 0 ? A11_OK : A11_ERR_NOMEM;
	a = NULL;
out:
	json_decref(a);
	return r;
}

a11_err j_get_approval(json_t *o, const char *key, struct approval *out)
{
	json_t *a = json_object_get(o, key);
	int64_t clock_end, reset_count;
	size_t n = 0;
	a11_err r = json_is_object(a) ? A11_OK : A11_ERR_PARSE;

	TRY(j_get_anchor(a, "anchor", &out->anchor));
	TRY(j_int(a, "clock_end", 0, INT64_MAX, &clock_end));
	TRY(j_int(a, "reset_count", 0, UINT32_MAX, &reset_count));
	TRY(j_bytes(a, "approved_policy", out->approved.buffer, sizeof(out->approved.buffer), &n));
	TRY(j_get_TPMT_SIGNATURE(a, "signature", &out->signature));
	out->clock_end = (uint64_t)clock_end;
	out->reset_count = (uint32_t)reset_count;
	out->approved.size = (UINT16)n;
	r = n == 32 ? A11_OK : A11_ERR_PARSE; /* SHA-256 policies only */
out:
	return r == A11_OK ? A11_OK : A11_ERR_PARSE;
}
