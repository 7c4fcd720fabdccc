/* attest11-broker policy from-eventlog LOG: the event rules a known-good
 * host's boot satisfies, as a policy fragment for an operator to review
 * and add (docs/operations.md, "Deriving an event policy"). The fragment
 * goes to stdout as JSON; what each entry stands for (event, PCR, path)
 * goes to stderr, for the review. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/file.h"
#include "../eventlog/efi.h"
#include "admin.h"
#include "evpolicy.h"

static char *hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	return out;
}

/* Append s to a unless a holds it already. */
static void add_unique(json_t *a, json_t *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (json_equal(v, s)) {
			json_decref(s);
			return;
		}
	json_array_append_new(a, s);
}

static int boot_apps(const struct evlog *log, json_t *rules)
{
	json_t *a = json_array();
	struct evlog_iter it;
	struct evlog_event ev;
	char h[65];

	evlog_iter_init(&it, log);
	while (evlog_next(&it, &ev)) {
		const struct evlog_digest *d = evlog_event_digest(&ev, TPM2_ALG_SHA256);
		struct evlog_image img;

		if (ev.type != EV_EFI_BOOT_SERVICES_APPLICATION)
			continue;
		if (d == NULL) {
			fprintf(stderr, "the log has no SHA-256 digests: no boot_applications\n");
			json_decref(a);
			return 0;
		}
		if (evlog_image_load(log, &ev, &img) != A11_OK)
			img.path[0] = '\0';
		fprintf(stderr, "boot application: event %u PCR %u %s %s\n", ev.index, ev.pcr,
			hex(d->d, 32, h), img.path[0] ? img.path : "(no file path)");
		add_unique(a, json_string(h));
	}
	return json_array_size(a) > 0 ? json_object_set_new(rules, "boot_applications", a)
				       : (json_decref(a), 0);
}

static int cmdlines(const struct evlog *log, json_t *rules)
{
	json_t *a = json_array();
	struct evlog_iter it;
	struct evlog_event ev;
	struct evlog_grub g;

	evlog_iter_init(&it, log);
	while (evlog_next(&it, &ev)) {
		a11_err r = evlog_grub(&ev, &g);

		if (r == A11_ERR_NOT_FOUND || (r == A11_OK && g.kind != EVLOG_GRUB_KERNEL_CMDLINE))
			continue;
		if (r != A11_OK) {
			fprintf(stderr, "event %u (PCR 8): its digest is not of its text: left out\n",
				ev.index);
			continue;
		}
		fprintf(stderr, "kernel command line: event %u PCR 8 \"%.*s\"\n", ev.index,
			(int)g.len, g.text);
		add_unique(a, json_stringn(g.text, g.len));
	}
	return json_array_size(a) > 0 ? json_object_set_new(rules, "kernel_cmdlines", a)
				       : (json_decref(a), 0);
}

static void dbx_entry(const uint8_t hash[32], void *arg)
{
	char h[65];

	json_array_append_new(arg, json_string(hex(hash, 32, h)));
}

/* The dbx PCR 7 measured, as revocations a host must hold at least. */
static int dbx(const struct evlog *log, const struct evlog_secure_boot *sb, json_t *rules)
{
	json_t *a = json_array();
	struct evlog_iter it;
	struct evlog_event ev;
	struct evlog_efi_var v;

	evlog_iter_init(&it, log);
	while (evlog_next(&it, &ev) && ev.index != sb->index[EVLOG_SB_DBX])
		;
	if (evlog_efi_var(&ev, &v) != A11_OK ||
	    evlog_sigdb_sha256(v.value, v.value_len, dbx_entry, a) != A11_OK ||
	    json_array_size(a) == 0 || json_array_size(a) > EVPOLICY_MAX_DBX) {
		fprintf(stderr, "dbx (event %u): no SHA-256 revocations usable: no dbx_contains\n",
			ev.index);
		json_decref(a);
		return 0;
	}
	fprintf(stderr, "dbx: event %u PCR 7, %zu SHA-256 revocations\n", ev.index,
		json_array_size(a));
	return json_object_set_new(rules, "dbx_contains", a);
}

/* secure_boot, and *on when the log satisfies it (then dbx applies). */
static int secure_boot(const struct evlog *log, json_t *rules, struct evlog_secure_boot *out,
		       bool *on)
{
	struct evlog_secure_boot sb;
	uint32_t at = 0;

	if (evlog_secure_boot(log, &sb, &at) != A11_OK) {
		fprintf(stderr, "PCR 7 event %u is malformed or not what its digest measured\n", at);
		return -1;
	}
	*out = sb;
	*on = sb.enabled == 1 && sb.present[EVLOG_SB_PK] && sb.present[EVLOG_SB_KEK] &&
	     sb.present[EVLOG_SB_DB] && sb.present[EVLOG_SB_DBX];
	fprintf(stderr, "secure boot: %s (SecureBoot %s, PK %s, KEK %s, db %s, dbx %s)\n",
		*on ? "on" : "OFF: the fragment does not require it",
		sb.enabled == 1 ? "01" : sb.enabled == 0 ? "not 01" : "absent",
		sb.present[EVLOG_SB_PK] ? "set" : "absent", sb.present[EVLOG_SB_KEK] ? "set" : "absent",
		sb.present[EVLOG_SB_DB] ? "set" : "absent", sb.present[EVLOG_SB_DBX] ? "set" : "absent");
	return json_object_set_new(rules, "secure_boot", json_boolean(*on));
}

int admin_policy_from_eventlog(void *ctx, int argc, char **argv)
{
	json_t *rules = json_object(), *frag = json_object();
	struct evlog_secure_boot sb;
	struct evlog log;
	bool on = false;
	char *buf = NULL, *out = NULL;
	size_t len;
	a11_err r;
	int rc = 1;

	(void)ctx;
	(void)argc;
	if (file_read_all(argv[1], EVLOG_MAX_BYTES, &buf, &len) != A11_OK)
		goto out;
	if ((r = evlog_open(&log, (const uint8_t *)buf, len)) != A11_OK) {
		fprintf(stderr, "%s: not a crypto-agile TCG event log (%s)\n", argv[1],
			a11_strerror(r));
		goto out;
	}
	if (secure_boot(&log, rules, &sb, &on) != 0 || boot_apps(&log, rules) != 0 ||
	    cmdlines(&log, rules) != 0 || (on && dbx(&log, &sb, rules) != 0) ||
	    json_object_set(frag, "eventlog", rules) != 0 ||
	    (out = json_dumps(frag, JSON_INDENT(2))) == NULL)
		goto out;
	printf("%s\n", out);
	rc = 0;
out:
	free(out);
	free(buf);
	json_decref(rules);
	json_decref(frag);
	return rc;
}
