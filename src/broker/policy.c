#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "../proto/json.h"
#include "../wire/hash.h"
#include "policy.h"

#define DEFAULT_LEASE_TTL 3600
#define DEFAULT_PIN_FAILURES 5
#define DEFAULT_PIN_ITERATIONS 10000

static const struct {
	const char *name;
	TPMI_ALG_HASH alg;
} banks[] = {
	{ "sha1", TPM2_ALG_SHA1 }, { "sha256", TPM2_ALG_SHA256 },
	{ "sha384", TPM2_ALG_SHA384 }, { "sha512", TPM2_ALG_SHA512 },
};

static TPMI_ALG_HASH bank_alg(const char *name)
{
	for (size_t i = 0; i < sizeof(banks) / sizeof(banks[0]); i++)
		if (strcmp(banks[i].name, name) == 0)
			return banks[i].alg;
	return TPM2_ALG_NULL;
}

static int bad(const char *what)
{
	log_error("policy: %s", what);
	return -1;
}

/* "pcr_selection": {"sha256": [0, 1, 7]}: banks in the order given. */
static int parse_selection(json_t *o, TPML_PCR_SELECTION *sel)
{
	const char *bank;
	json_t *pcrs, *pcr;
	size_t i;

	if (!json_is_object(o) || json_object_size(o) == 0 || json_object_size(o) > 4)
		return bad("pcr_selection must map 1 to 4 bank names to PCR lists");
	json_object_foreach(o, bank, pcrs) {
		TPMS_PCR_SELECTION *s = &sel->pcrSelections[sel->count++];

		if ((s->hash = bank_alg(bank)) == TPM2_ALG_NULL)
			return bad("pcr_selection: unknown bank (sha1, sha256, sha384, sha512)");
		s->sizeofSelect = 3;
		if (!json_is_array(pcrs) || json_array_size(pcrs) == 0)
			return bad("pcr_selection: each bank needs a non-empty list of PCRs");
		json_array_foreach(pcrs, i, pcr) {
			json_int_t n = json_integer_value(pcr);
			if (!json_is_integer(pcr) || n < 0 || n > 23)
				return bad("pcr_selection: PCR numbers are 0 to 23");
			s->pcrSelect[n / 8] |= (BYTE)(1u << (n % 8));
		}
	}
	return 0;
}

int policy_unhex(const char *s, uint8_t *out, size_t len)
{
	/* sscanf's %x alone would also take a sign, spaces or "0x". */
	if (strlen(s) != 2 * len || strspn(s, "0123456789abcdefABCDEF") != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned int b;
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (uint8_t)b;
	}
	return 0;
}

/* One reference set: {"sha256": {"0": "hex", "7": "hex"}} covering exactly
 * the selection; stored in selection order like quoted values. */
static int parse_ref(json_t *o, const TPML_PCR_SELECTION *sel, struct a11_pcr_values *v)
{
	char key[4];

	if (!json_is_object(o))
		return bad("pcr_reference entries must be objects");
	for (uint32_t b = 0; b < sel->count; b++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];
		size_t ds = wire_digest_size(s->hash);
		json_t *bank = NULL;

		for (size_t i = 0; i < sizeof(banks) / sizeof(banks[0]); i++)
			if (banks[i].alg == s->hash)
				bank = json_object_get(o, banks[i].name);
		for (unsigned pcr = 0; pcr < 24; pcr++) {
			if (!(s->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
				continue;
			snprintf(key, sizeof(key), "%u", pcr);
			json_t *val = json_object_get(bank, key);
			if (!json_is_string(val) || v->count >= A11_PCR_MAX_VALUES ||
			    policy_unhex(json_string_value(val), v->v[v->count].buffer, ds) != 0)
				return bad("pcr_reference: every selected PCR needs a hex digest of its bank's size");
			v->v[v->count++].size = (UINT16)ds;
		}
	}
	return 0;
}

static int parse_refs(json_t *a, struct policy *p)
{
	json_t *o;
	size_t i;

	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > POLICY_MAX_REFS)
		return bad("pcr_reference must be a list of at most 32 value sets");
	p->refs = calloc(json_array_size(a) ? json_array_size(a) : 1, sizeof(*p->refs));
	if (p->refs == NULL)
		return bad("out of memory");
	json_array_foreach(a, i, o) {
		if (parse_ref(o, &p->pcr_selection, &p->refs[i]) != 0)
			return -1;
		p->ref_count++;
	}
	return 0;
}

static int parse_allow(json_t *a, struct policy *p)
{
	json_t *h;
	size_t i;

	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > POLICY_MAX_EK_ALLOW)
		return bad("ek_allow must be a list of at most 256 SHA-256 hex digests");
	json_array_foreach(a, i, h) {
		if (!json_is_string(h) || policy_unhex(json_string_value(h), p->ek_allow[i], 32) != 0)
			return bad("ek_allow: each entry is 64 hex characters");
		p->ek_allow_count++;
	}
	return 0;
}

static int get_uint(json_t *o, const char *key, uint32_t min, uint32_t max, uint32_t *out)
{
	int64_t v = *out;
	int rc = j_conf_int(o, "policy", key, min, max, &v);

	*out = (uint32_t)v;
	return rc;
}

static int get_string(json_t *o, const char *key, bool required, char *out, size_t cap)
{
	return j_conf_str(o, "policy", key, required, out, cap);
}

/* "ar4si": {"executables": "affirming", ...}: claims that must affirm. */
static int parse_ar4si(json_t *o, struct policy *p)
{
	static const char *const claims[] = { "instance-identity", "configuration", "executables",
					      "file-system", "hardware", "runtime-opaque",
					      "storage-opaque", "sourced-data" };
	const char *key;
	json_t *v;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return bad("ar4si must map claim names to \"affirming\"");
	json_object_foreach(o, key, v) {
		size_t i;
		for (i = 0; i < sizeof(claims) / sizeof(claims[0]); i++)
			if (strcmp(key, claims[i]) == 0)
				break;
		if (i == sizeof(claims) / sizeof(claims[0]) || !json_is_string(v) ||
		    strcmp(json_string_value(v), "affirming") != 0)
			return bad("ar4si: unknown claim, or a tier other than \"affirming\"");
		p->require_affirming[i] = true;
	}
	return 0;
}

/* An event policy needs the PCRs a firmware log describes: by default
 * exactly those, else a selection that covers them. */
static int parse_selection_for(json_t *o, struct policy *p)
{
	json_t *sel = json_object_get(o, "pcr_selection");

	if (sel == NULL && p->ev.present) {
		evpolicy_default_selection(&p->pcr_selection);
		return 0;
	}
	if (parse_selection(sel, &p->pcr_selection) != 0)
		return -1;
	if (p->ev.present && !evpolicy_selection_ok(&p->pcr_selection))
		return bad("eventlog: pcr_selection must cover sha256 PCRs 0-9 and 14");
	return 0;
}

static int parse_all(json_t *o, struct policy *p)
{
	static const char *const known[] = { "ek_ca", "workload_id", "pcr_selection",
		"pcr_reference", "ek_allow", "ar4si", "lease_ttl", "pin_max_failures",
		"pin_iterations", "bind_pcrs", "eventlog", NULL };
	json_t *bind = json_object_get(o, "bind_pcrs");

	if (!json_is_object(o))
		return bad("not a JSON object");
	if (j_conf_known(o, "policy", known) != 0 || get_string(o, "ek_ca", true, p->ek_ca, sizeof(p->ek_ca)) != 0 ||
	    get_string(o, "workload_id", false, p->workload_id, sizeof(p->workload_id)) != 0 ||
	    evpolicy_parse(json_object_get(o, "eventlog"), &p->ev) != 0 ||
	    parse_selection_for(o, p) != 0 ||
	    parse_refs(json_object_get(o, "pcr_reference"), p) != 0 ||
	    parse_allow(json_object_get(o, "ek_allow"), p) != 0 ||
	    parse_ar4si(json_object_get(o, "ar4si"), p) != 0 ||
	    get_uint(o, "lease_ttl", 5, 366 * 86400, &p->lease_ttl) != 0 ||
	    get_uint(o, "pin_max_failures", 1, 1000, &p->pin_max_failures) != 0 ||
	    get_uint(o, "pin_iterations", 1000, 10000000, &p->pin_iterations) != 0)
		return -1;
	if (bind != NULL && !json_is_boolean(bind))
		return bad("bind_pcrs must be true or false");
	p->bind_pcrs = json_is_true(bind);
	return 0;
}

a11_err policy_parse(const char *json, size_t len, struct policy **out)
{
	struct policy *p = calloc(1, sizeof(*p));
	json_error_t err;
	json_t *o;

	*out = NULL;
	if (p == NULL)
		return A11_ERR_NOMEM;
	p->lease_ttl = DEFAULT_LEASE_TTL;
	p->pin_max_failures = DEFAULT_PIN_FAILURES;
	p->pin_iterations = DEFAULT_PIN_ITERATIONS;
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (o == NULL)
		log_error("policy: line %d: %s", err.line, err.text);
	if (o == NULL || parse_all(o, p) != 0) {
		json_decref(o);
		policy_free(p);
		return A11_ERR_PARSE;
	}
	json_decref(o);
	*out = p;
	return A11_OK;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	free(p->refs);
	evpolicy_free(&p->ev);
	free(p);
}
