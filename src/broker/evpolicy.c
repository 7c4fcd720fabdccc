/* Event rules of a policy: parsing (policy.json's "eventlog") and the
 * appraisal of a log against them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../eventlog/efi.h"
#include "../eventlog/replay.h"
#include "../proto/json.h"
#include "evpolicy.h"
#include "policy.h"

static int bad(const char *what)
{
	log_error("policy: eventlog: %s", what);
	return -1;
}

/* A list of at most max SHA-256 hex digests into a malloc'd array. */
static int parse_digests(json_t *a, const char *what, size_t max, uint8_t (**out)[32],
			 size_t *count)
{
	json_t *h;
	size_t i;

	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > max) {
		log_error("policy: eventlog: %s must be a non-empty list of at most %zu digests",
			  what, max);
		return -1;
	}
	if ((*out = calloc(json_array_size(a), 32)) == NULL)
		return bad("out of memory");
	json_array_foreach(a, i, h) {
		if (!json_is_string(h) || policy_unhex(json_string_value(h), (*out)[i], 32) != 0) {
			log_error("policy: eventlog: %s: each entry is 64 hex characters (SHA-256)",
				  what);
			return -1;
		}
		(*count)++;
	}
	return 0;
}

static int parse_cmdlines(json_t *a, struct evpolicy *e)
{
	json_t *c;
	size_t i;

	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > EVPOLICY_MAX_CMDLINES)
		return bad("kernel_cmdlines must be a non-empty list of at most 64 strings");
	if ((e->cmdlines = calloc(json_array_size(a), sizeof(*e->cmdlines))) == NULL)
		return bad("out of memory");
	json_array_foreach(a, i, c) {
		/* grub measures text without a NUL inside: no such line could match. */
		if (!json_is_string(c) || json_string_length(c) > EVPOLICY_CMDLINE_MAX ||
		    strlen(json_string_value(c)) != json_string_length(c))
			return bad("kernel_cmdlines: each entry is a string of at most 4096 bytes");
		if ((e->cmdlines[i] = strdup(json_string_value(c))) == NULL)
			return bad("out of memory");
		e->cmdline_count++;
	}
	return 0;
}

int evpolicy_parse(json_t *o, struct evpolicy *e)
{
	static const char *const known[] = { "secure_boot", "boot_applications",
		"kernel_cmdlines", "dbx_contains", NULL };
	json_t *sb = json_object_get(o, "secure_boot");

	memset(e, 0, sizeof(*e));
	if (o == NULL)
		return 0;
	e->present = true;
	if (!json_is_object(o))
		return bad("must be an object of event rules");
	if (j_conf_known(o, "policy: eventlog", known) != 0)
		return -1;
	if (sb != NULL && !json_is_boolean(sb))
		return bad("secure_boot must be true or false");
	e->secure_boot = json_is_true(sb);
	return parse_digests(json_object_get(o, "boot_applications"), "boot_applications",
			     EVPOLICY_MAX_APPS, &e->apps, &e->app_count) ||
	       parse_cmdlines(json_object_get(o, "kernel_cmdlines"), e) ||
	       parse_digests(json_object_get(o, "dbx_contains"), "dbx_contains",
			     EVPOLICY_MAX_DBX, &e->dbx, &e->dbx_count) ? -1 : 0;
}

void evpolicy_free(struct evpolicy *e)
{
	for (size_t i = 0; e->cmdlines != NULL && i < e->cmdline_count; i++)
		free(e->cmdlines[i]);
	free(e->cmdlines);
	free(e->apps);
	free(e->dbx);
	memset(e, 0, sizeof(*e));
}

void evpolicy_default_selection(TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	sel->pcrSelections[0].pcrSelect[0] = EVPOLICY_PCR_MASK & 0xff;
	sel->pcrSelections[0].pcrSelect[1] = EVPOLICY_PCR_MASK >> 8;
}

bool evpolicy_selection_ok(const TPML_PCR_SELECTION *sel)
{
	for (uint32_t i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];

		if (s->hash == TPM2_ALG_SHA256 && s->sizeofSelect >= 2 &&
		    ((s->pcrSelect[0] | (uint32_t)s->pcrSelect[1] << 8) & EVPOLICY_PCR_MASK) ==
			    EVPOLICY_PCR_MASK)
			return true;
	}
	return false;
}

/* ---- appraisal ---- */

/* One appraisal: the log, where its verdict goes. */
struct judge {
	const struct evpolicy *e;
	struct evlog log;
	struct ear *ear;
	char *detail;
	size_t cap;
};

/* The refusal naming ev and the rule it breaks; claim gets tier. */
static enum refusal event_refusal(struct judge *j, enum refusal ref, int claim, int tier,
				  const struct evlog_event *ev, const char *rule, const char *why)
{
	j->ear->tv[claim] = tier;
	snprintf(j->detail, j->cap, "PCR %u event %u %s: %s (rule %s)", ev->pcr, ev->index,
		 evlog_type_name(ev->type), why, rule);
	return ref;
}

static enum refusal rule_refusal(struct judge *j, int claim, const char *rule, const char *why)
{
	j->ear->tv[claim] = AR_CONTRAINDICATED;
	snprintf(j->detail, j->cap, "%s (rule %s)", why, rule);
	return REF_EVENTLOG_POLICY;
}

/* The event of that index (it exists: evlog_secure_boot named it). */
static void event_at(const struct evlog *log, uint32_t index, struct evlog_event *ev)
{
	struct evlog_iter it;

	evlog_iter_init(&it, log);
	while (evlog_next(&it, ev) && ev->index != index)
		;
}

struct dbx_find {
	const uint8_t *want;
	bool found;
};

static void dbx_each(const uint8_t hash[32], void *arg)
{
	struct dbx_find *f = arg;

	f->found = f->found || memcmp(hash, f->want, 32) == 0;
}

/* Every revocation the policy names is in the dbx that PCR 7 measured. */
static enum refusal check_dbx(struct judge *j, const struct evlog_secure_boot *sb)
{
	struct evlog_event ev;
	struct evlog_efi_var v;
	char why[96];

	if (!sb->present[EVLOG_SB_DBX])
		return rule_refusal(j, AR_HARDWARE, "dbx_contains", "no dbx measured in PCR 7");
	event_at(&j->log, sb->index[EVLOG_SB_DBX], &ev);
	if (evlog_efi_var(&ev, &v) != A11_OK)
		return event_refusal(j, REF_EVENTLOG_INVALID, AR_HARDWARE, AR_UNRECOGNIZED, &ev,
				     "dbx_contains", "malformed variable");
	for (size_t i = 0; i < j->e->dbx_count; i++) {
		struct dbx_find f = { j->e->dbx[i], false };

		if (evlog_sigdb_sha256(v.value, v.value_len, dbx_each, &f) != A11_OK)
			return event_refusal(j, REF_EVENTLOG_INVALID, AR_HARDWARE,
					     AR_UNRECOGNIZED, &ev, "dbx_contains",
					     "malformed signature list");
		if (!f.found) {
			/* The entry's place, not its value: details never show the policy. */
			snprintf(why, sizeof(why), "dbx lacks dbx_contains entry %zu", i);
			return event_refusal(j, REF_EVENTLOG_POLICY, AR_HARDWARE,
					     AR_CONTRAINDICATED, &ev, "dbx_contains", why);
		}
	}
	return REF_NONE;
}

/* Secure boot on with PK, KEK, db and dbx, and the dbx new enough. */
static enum refusal check_secure_boot(struct judge *j)
{
	static const char *const keys[EVLOG_SB__COUNT] = { "PK", "KEK", "db", "dbx" };
	struct evlog_secure_boot sb;
	struct evlog_event ev;
	uint32_t at = 0;
	char why[64];
	a11_err r = evlog_secure_boot(&j->log, &sb, &at);

	if (r != A11_OK) {
		event_at(&j->log, at, &ev);
		return r == A11_ERR_EVENTLOG_MISMATCH
			? event_refusal(j, REF_EVENTLOG_MISMATCH, AR_HARDWARE, AR_CRYPTO_FAILED, &ev,
					"secure_boot", "digest is not of its data")
			: event_refusal(j, REF_EVENTLOG_INVALID, AR_HARDWARE, AR_UNRECOGNIZED, &ev,
					"secure_boot", "malformed variable");
	}
	if (j->e->secure_boot && sb.enabled == -1)
		return rule_refusal(j, AR_HARDWARE, "secure_boot", "no SecureBoot variable measured in PCR 7");
	if (j->e->secure_boot && sb.enabled != 1) {
		event_at(&j->log, sb.enabled_index, &ev);
		return event_refusal(j, REF_EVENTLOG_POLICY, AR_HARDWARE, AR_CONTRAINDICATED, &ev,
				     "secure_boot", "SecureBoot is not 01");
	}
	for (int k = 0; j->e->secure_boot && k < EVLOG_SB__COUNT; k++)
		if (!sb.present[k]) {
			snprintf(why, sizeof(why), "%s not measured in PCR 7", keys[k]);
			return rule_refusal(j, AR_HARDWARE, "secure_boot", why);
		}
	return j->e->dbx_count > 0 ? check_dbx(j, &sb) : REF_NONE;
}

static bool digest_allowed(const struct evpolicy *e, const uint8_t *d)
{
	for (size_t i = 0; i < e->app_count; i++)
		if (memcmp(e->apps[i], d, 32) == 0)
			return true;
	return false;
}

/* Every boot application's Authenticode digest is on the allow-list. */
static enum refusal check_apps(struct judge *j)
{
	struct evlog_iter it;
	struct evlog_event ev;
	char why[EVLOG_PATH_MAX + 96];

	evlog_iter_init(&it, &j->log);
	while (evlog_next(&it, &ev)) {
		const struct evlog_digest *d = evlog_event_digest(&ev, TPM2_ALG_SHA256);
		struct evlog_image img;

		if (ev.type != EV_EFI_BOOT_SERVICES_APPLICATION)
			continue;
		if (d == NULL)
			return event_refusal(j, REF_EVENTLOG_POLICY, AR_EXECUTABLES,
					     AR_CONTRAINDICATED, &ev, "boot_applications",
					     "the log has no SHA-256 digest");
		if (digest_allowed(j->e, d->d))
			continue;
		if (evlog_image_load(&j->log, &ev, &img) != A11_OK)
			img.path[0] = '\0';
		snprintf(why, sizeof(why), "digest %02x%02x%02x%02x... (%s) not allowed", d->d[0],
			 d->d[1], d->d[2], d->d[3], img.path[0] ? img.path : "no path");
		return event_refusal(j, REF_EVENTLOG_POLICY, AR_EXECUTABLES, AR_CONTRAINDICATED,
				     &ev, "boot_applications", why);
	}
	j->ear->tv[AR_EXECUTABLES] = AR_AFFIRMING;
	return REF_NONE;
}

static bool cmdline_allowed(const struct evpolicy *e, const struct evlog_grub *g)
{
	for (size_t i = 0; i < e->cmdline_count; i++)
		if (strlen(e->cmdlines[i]) == g->len && memcmp(e->cmdlines[i], g->text, g->len) == 0)
			return true;
	return false;
}

/* Every kernel command line grub measured is allowed, and there is one. */
static enum refusal check_cmdlines(struct judge *j)
{
	struct evlog_iter it;
	struct evlog_event ev;
	struct evlog_grub g;
	unsigned seen = 0;

	evlog_iter_init(&it, &j->log);
	while (evlog_next(&it, &ev)) {
		a11_err r = evlog_grub(&ev, &g);

		if (r == A11_ERR_NOT_FOUND || (r == A11_OK && g.kind != EVLOG_GRUB_KERNEL_CMDLINE))
			continue;
		if (r != A11_OK)
			return event_refusal(j, r == A11_ERR_PARSE ? REF_EVENTLOG_INVALID
							    : REF_EVENTLOG_MISMATCH,
					     AR_CONFIGURATION, AR_CRYPTO_FAILED, &ev,
					     "kernel_cmdlines", "digest is not of its text");
		if (!cmdline_allowed(j->e, &g))
			return event_refusal(j, REF_EVENTLOG_POLICY, AR_CONFIGURATION,
					     AR_CONTRAINDICATED, &ev, "kernel_cmdlines",
					     "kernel command line not allowed");
		seen++;
	}
	if (seen == 0)
		return rule_refusal(j, AR_CONFIGURATION, "kernel_cmdlines",
				    "no kernel command line measured in PCR 8");
	return REF_NONE;
}

/* The log is well formed and replays to the quote. */
static enum refusal check_replay(struct judge *j, const TPML_PCR_SELECTION *sel,
				 const struct a11_pcr_values *vals, const uint8_t *log,
				 size_t log_len)
{
	struct evlog_mismatch m;
	a11_err r;

	if (log == NULL) {
		j->ear->tv[AR_EXECUTABLES] = AR_UNRECOGNIZED;
		snprintf(j->detail, j->cap, "no event log in the evidence");
		return REF_EVENTLOG_REQUIRED;
	}
	if ((r = evlog_open(&j->log, log, log_len)) == A11_OK)
		r = evlog_check_quote(&j->log, sel, vals, EVPOLICY_PCR_MASK, &m);
	if (r == A11_ERR_EVENTLOG_MISMATCH) {
		j->ear->tv[AR_EXECUTABLES] = AR_CRYPTO_FAILED;
		snprintf(j->detail, j->cap, "bank %s PCR %u: the log does not replay to the quote",
			 m.alg == TPM2_ALG_SHA1 ? "sha1" : m.alg == TPM2_ALG_SHA256 ? "sha256"
			 : m.alg == TPM2_ALG_SHA384 ? "sha384" : "sha512", m.pcr);
		return REF_EVENTLOG_MISMATCH;
	}
	if (r != A11_OK) {
		j->ear->tv[AR_EXECUTABLES] = AR_UNRECOGNIZED;
		snprintf(j->detail, j->cap, "event log: %s", a11_strerror(r));
		return REF_EVENTLOG_INVALID;
	}
	return REF_NONE;
}

enum refusal evpolicy_appraise(const struct evpolicy *e, const TPML_PCR_SELECTION *sel,
			       const struct a11_pcr_values *vals, const uint8_t *log,
			       size_t log_len, struct ear *ear, char *detail, size_t cap)
{
	struct judge j = { .e = e, .ear = ear, .detail = detail, .cap = cap };
	enum refusal ref = check_replay(&j, sel, vals, log, log_len);

	if (ref == REF_NONE && (e->secure_boot || e->dbx_count > 0))
		ref = check_secure_boot(&j);
	if (ref == REF_NONE && e->app_count > 0)
		ref = check_apps(&j);
	if (ref == REF_NONE && e->cmdline_count > 0)
		ref = check_cmdlines(&j);
	if (ref == REF_NONE && e->cmdline_count > 0)
		ear->tv[AR_CONFIGURATION] = AR_AFFIRMING;
	return ref;
}
