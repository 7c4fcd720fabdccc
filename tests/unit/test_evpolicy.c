/* Event policies (src/broker/evpolicy.c) on the real logs of
 * tests/data/eventlogs: each rule passes on the log it was derived from
 * and refuses, naming the event and the rule, when the log breaks it; the
 * EAR claim each rule speaks for says why. The quoted PCR values are the
 * log's own replay (test_eventlog.c checks that replay against
 * tpm2_eventlog), so a log that differs from them is a log that does not
 * replay to the quote. */
#include "eventlog_fixture.h"

#include <jansson.h>

#include "../../src/broker/evpolicy.h"
#include "../../src/broker/policy.h"

#define RHEL "rhel8-uefi.bin"
#define UBUNTU "ubuntu-2104-no-secure-boot.bin"
#define COS "cos-101-amd-sev.bin"
#define ARCH "arch-linux-workstation.bin"

struct fx {
	uint8_t *log;
	size_t len;
	TPML_PCR_SELECTION sel;
	struct a11_pcr_values vals;  /* the log's SHA-256 replay of PCRs 0-9, 14 */
	struct ear ear;
	char detail[256];
};

/* f->log (malloc'd, f->len) as the quote: its SHA-256 replay. */
static void fx_quote(struct fx *f)
{
	struct evlog log;
	struct evlog_bank b;

	evpolicy_default_selection(&f->sel);
	assert_int_equal(evlog_open(&log, f->log, f->len), A11_OK);
	assert_int_equal(evlog_replay(&log, TPM2_ALG_SHA256, &b), A11_OK);
	for (unsigned pcr = 0; pcr < EVLOG_NUM_PCRS; pcr++) {
		if (!(EVPOLICY_PCR_MASK & 1u << pcr))
			continue;
		f->vals.v[f->vals.count].size = 32;
		memcpy(f->vals.v[f->vals.count++].buffer, b.pcr[pcr], 32);
	}
}

static void fx_load(struct fx *f, const char *name)
{
	memset(f, 0, sizeof(*f));
	f->log = log_read(name, &f->len);
	fx_quote(f);
}

static enum refusal run_json(struct fx *f, const char *rules)
{
	struct evpolicy e;
	json_t *o = json_loads(rules, 0, NULL);
	enum refusal r;

	assert_non_null(o);
	assert_int_equal(evpolicy_parse(o, &e), 0);
	json_decref(o);
	memset(&f->ear, 0, sizeof(f->ear));
	f->detail[0] = '\0';
	r = evpolicy_appraise(&e, &f->sel, &f->vals, f->log, f->len, &f->ear, f->detail,
			      sizeof(f->detail));
	evpolicy_free(&e);
	return r;
}

static void has(const struct fx *f, const char *want)
{
	if (strstr(f->detail, want) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", f->detail, want);
}

/* The i-th event of type in the log (i counts from 0), or fail. */
static void nth_event(const struct fx *f, uint32_t type, unsigned i, struct evlog_event *ev)
{
	struct evlog log;
	struct evlog_iter it;

	assert_int_equal(evlog_open(&log, f->log, f->len), A11_OK);
	evlog_iter_init(&it, &log);
	while (evlog_next(&it, ev))
		if (ev->type == type && i-- == 0)
			return;
	fail_msg("no such event");
}

/* "boot_applications": every application digest of the log, but skip. */
static char *apps_rule(const struct fx *f, int skip)
{
	json_t *a = json_array(), *o = json_object();
	struct evlog_event ev;
	char *s, hex[65];

	for (unsigned i = 0;; i++) {
		struct evlog log;
		struct evlog_iter it;
		unsigned k = 0;
		bool found = false;

		assert_int_equal(evlog_open(&log, f->log, f->len), A11_OK);
		evlog_iter_init(&it, &log);
		while (evlog_next(&it, &ev))
			if (ev.type == EV_EFI_BOOT_SERVICES_APPLICATION && k++ == i) {
				found = true;
				break;
			}
		if (!found)
			break;
		for (int j = 0; j < 32; j++)
			sprintf(hex + 2 * j, "%02x", evlog_event_digest(&ev, TPM2_ALG_SHA256)->d[j]);
		if ((int)i != skip)
			json_array_append_new(a, json_string(hex));
	}
	json_object_set_new(o, "boot_applications", a);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void test_replay(void **state)
{
	static const char *const logs[] = { RHEL, UBUNTU, COS, ARCH };
	struct fx f;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		fx_load(&f, logs[i]);
		assert_int_equal(run_json(&f, "{}"), REF_NONE);
		/* One flipped bit of a quoted PCR: the log no longer replays to it. */
		f.vals.v[4].buffer[0] ^= 1;
		assert_int_equal(run_json(&f, "{}"), REF_EVENTLOG_MISMATCH);
		has(&f, "bank sha256 PCR 4");
		assert_int_equal(f.ear.tv[AR_EXECUTABLES], AR_CRYPTO_FAILED);
		free(f.log);
	}
}

static void test_required_invalid(void **state)
{
	struct fx f;
	uint8_t *keep;

	(void)state;
	fx_load(&f, RHEL);
	keep = f.log;
	f.log = NULL;
	assert_int_equal(run_json(&f, "{}"), REF_EVENTLOG_REQUIRED);
	f.log = keep;
	f.len -= 3; /* truncated */
	assert_int_equal(run_json(&f, "{}"), REF_EVENTLOG_INVALID);
	assert_int_equal(f.ear.tv[AR_EXECUTABLES], AR_UNRECOGNIZED);
	free(f.log);
}

static void test_secure_boot(void **state)
{
	struct fx f;

	(void)state;
	fx_load(&f, RHEL);
	assert_int_equal(run_json(&f, "{\"secure_boot\":true}"), REF_NONE);
	free(f.log);
	fx_load(&f, UBUNTU);
	assert_int_equal(run_json(&f, "{}"), REF_NONE);
	assert_int_equal(run_json(&f, "{\"secure_boot\":true}"), REF_EVENTLOG_POLICY);
	has(&f, "PCR 7 event ");
	has(&f, "EV_EFI_VARIABLE_DRIVER_CONFIG: SecureBoot is not 01 (rule secure_boot)");
	assert_int_equal(f.ear.tv[AR_HARDWARE], AR_CONTRAINDICATED);
	free(f.log);
}

static void test_boot_applications(void **state)
{
	struct fx f;
	char *rule;

	(void)state;
	fx_load(&f, RHEL);
	rule = apps_rule(&f, -1);
	assert_int_equal(run_json(&f, rule), REF_NONE);
	assert_int_equal(f.ear.tv[AR_EXECUTABLES], AR_AFFIRMING);
	free(rule);
	rule = apps_rule(&f, 1); /* the second application (grub) is not allowed */
	assert_int_equal(run_json(&f, rule), REF_EVENTLOG_POLICY);
	has(&f, "PCR 4 event ");
	has(&f, "EV_EFI_BOOT_SERVICES_APPLICATION: digest ");
	has(&f, "not allowed (rule boot_applications)");
	assert_int_equal(f.ear.tv[AR_EXECUTABLES], AR_CONTRAINDICATED);
	free(rule);
	free(f.log);
}

/* The kernel command line the log measured, as a rule allowing it. */
static char *cmdline_rule(const struct fx *f, const char *suffix)
{
	struct evlog log;
	struct evlog_iter it;
	struct evlog_event ev;
	struct evlog_grub g;
	char *s = NULL;

	assert_int_equal(evlog_open(&log, f->log, f->len), A11_OK);
	evlog_iter_init(&it, &log);
	while (s == NULL && evlog_next(&it, &ev))
		if (evlog_grub(&ev, &g) == A11_OK && g.kind == EVLOG_GRUB_KERNEL_CMDLINE) {
			json_t *o = json_pack("{s:[s#+]}", "kernel_cmdlines", g.text, (int)g.len,
					      suffix);
			s = json_dumps(o, JSON_COMPACT);
			json_decref(o);
		}
	assert_non_null(s);
	return s;
}

static void test_kernel_cmdlines(void **state)
{
	struct fx f;
	char *rule;

	(void)state;
	fx_load(&f, COS);
	rule = cmdline_rule(&f, "");
	assert_int_equal(run_json(&f, rule), REF_NONE);
	assert_int_equal(f.ear.tv[AR_CONFIGURATION], AR_AFFIRMING);
	free(rule);
	rule = cmdline_rule(&f, " init=/bin/sh");
	assert_int_equal(run_json(&f, rule), REF_EVENTLOG_POLICY);
	has(&f, "PCR 8 event ");
	has(&f, "EV_IPL: kernel command line not allowed (rule kernel_cmdlines)");
	assert_int_equal(f.ear.tv[AR_CONFIGURATION], AR_CONTRAINDICATED);
	free(rule);
	free(f.log);
	/* A host whose log measures no command line does not pass the rule. */
	fx_load(&f, ARCH);
	assert_int_equal(run_json(&f, "{\"kernel_cmdlines\":[\"ro\"]}"), REF_EVENTLOG_POLICY);
	has(&f, "no kernel command line measured in PCR 8");
	free(f.log);
}

static void first_hash(const uint8_t h[32], void *arg)
{
	char *hex = arg;

	if (hex[0] == '\0')
		for (int i = 0; i < 32; i++)
			sprintf(hex + 2 * i, "%02x", h[i]);
}

static void test_dbx(void **state)
{
	struct fx f;
	struct evlog_secure_boot sb;
	struct evlog log;
	struct evlog_event ev;
	struct evlog_efi_var v;
	char hex[65] = "", rule[256];

	(void)state;
	fx_load(&f, RHEL);
	assert_int_equal(evlog_open(&log, f.log, f.len), A11_OK);
	assert_int_equal(evlog_secure_boot(&log, &sb, NULL), A11_OK);
	for (unsigned i = 0;; i++) {
		nth_event(&f, EV_EFI_VARIABLE_DRIVER_CONFIG, i, &ev);
		if (ev.index == sb.index[EVLOG_SB_DBX])
			break;
	}
	assert_int_equal(evlog_efi_var(&ev, &v), A11_OK);
	assert_int_equal(evlog_sigdb_sha256(v.value, v.value_len, first_hash, hex), A11_OK);
	assert_int_equal(strlen(hex), 64);
	snprintf(rule, sizeof(rule), "{\"dbx_contains\":[\"%s\"]}", hex);
	assert_int_equal(run_json(&f, rule), REF_NONE);
	hex[0] = hex[0] == '0' ? '1' : '0'; /* a revocation this dbx lacks */
	snprintf(rule, sizeof(rule), "{\"dbx_contains\":[\"%s\"]}", hex);
	assert_int_equal(run_json(&f, rule), REF_EVENTLOG_POLICY);
	has(&f, "PCR 7 event ");
	has(&f, "EV_EFI_VARIABLE_DRIVER_CONFIG: dbx lacks dbx_contains entry 0");
	has(&f, "(rule dbx_contains)");
	assert_int_equal(f.ear.tv[AR_HARDWARE], AR_CONTRAINDICATED);
	free(f.log);
}

/* A PCR 7 UEFI_VARIABLE_DATA event, its digest of its data. */
static void sb_var(struct lb *b, bool global, const char *name, uint8_t value)
{
	static const uint8_t g_global[16] = { 0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
					      0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c };
	static const uint8_t g_db[16] = { 0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
					  0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f };
	struct lb d = { 0 };

	lb_bytes(&d, global ? g_global : g_db, 16);
	lb_le(&d, strlen(name), 8);
	lb_le(&d, 1, 8);
	for (const char *c = name; *c; c++)
		lb_le(&d, (uint8_t)*c, 2);
	lb_bytes(&d, &value, 1);
	lb_event(b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, d.p, d.len);
	free(d.p);
}

/* Secure boot needs SecureBoot = 01 and each of PK, KEK, db, dbx
 * measured: a synthetic log missing one is refused, naming it. */
static void test_secure_boot_keys(void **state)
{
	static const char *const keys[] = { "PK", "KEK", "db", "dbx" };
	static const uint16_t sha256[] = { TPM2_ALG_SHA256 };
	char want[64];
	struct fx f;

	(void)state;
	for (int skip = -2; skip < 4; skip++) {
		struct lb b;

		lb_spec(&b, sha256, 1);
		if (skip != -2)
			sb_var(&b, true, "SecureBoot", 1);
		for (int k = 0; k < 4; k++)
			if (k != skip)
				sb_var(&b, k < 2, keys[k], 0x5a);
		lb_event(&b, 7, EV_SEPARATOR, "\0\0\0\0", 4);
		memset(&f, 0, sizeof(f));
		f.log = b.p;
		f.len = b.len;
		fx_quote(&f);
		if (skip == -1) {
			assert_int_equal(run_json(&f, "{\"secure_boot\":true}"), REF_NONE);
		} else {
			assert_int_equal(run_json(&f, "{\"secure_boot\":true}"), REF_EVENTLOG_POLICY);
			snprintf(want, sizeof(want), "%s%s measured in PCR 7 (rule secure_boot)",
				 skip == -2 ? "no SecureBoot variable" : keys[skip],
				 skip == -2 ? "" : " not");
			has(&f, want);
			assert_int_equal(f.ear.tv[AR_HARDWARE], AR_CONTRAINDICATED);
		}
		free(b.p);
	}
}

/* A rule judges events whose digests the replay proved: an event's data
 * changed without its digest is caught where the data is what is hashed
 * (SecureBoot's value). */
static void test_data_not_digest(void **state)
{
	struct fx f;
	struct evlog_event ev;
	struct evlog_efi_var v;

	(void)state;
	fx_load(&f, UBUNTU);
	for (unsigned i = 0;; i++) {
		nth_event(&f, EV_EFI_VARIABLE_DRIVER_CONFIG, i, &ev);
		if (evlog_efi_var(&ev, &v) == A11_OK && strcmp(v.name, "SecureBoot") == 0)
			break;
	}
	f.log[v.value - f.log] = 1; /* "SecureBoot = 01", digest unchanged */
	assert_int_equal(run_json(&f, "{\"secure_boot\":true}"), REF_EVENTLOG_MISMATCH);
	has(&f, "EV_EFI_VARIABLE_DRIVER_CONFIG: digest is not of its data (rule secure_boot)");
	free(f.log);
}

static struct policy *parse(const char *json)
{
	struct policy *p = NULL;

	return policy_parse(json, strlen(json), &p) == A11_OK ? p : NULL;
}

static void test_policy_json(void **state)
{
	struct policy *p;

	(void)state;
	/* An event policy quotes SHA-256 0-9 and 14 unless told otherwise. */
	p = parse("{\"ek_ca\":\"x\",\"eventlog\":{\"secure_boot\":true}}");
	assert_non_null(p);
	assert_true(p->ev.present && p->ev.secure_boot);
	assert_int_equal(p->pcr_selection.count, 1);
	assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[0], 0xff);
	assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[1], 0x43);
	policy_free(p);
	/* A selection without the firmware's PCRs cannot check the log. */
	assert_null(parse("{\"ek_ca\":\"x\",\"pcr_selection\":{\"sha256\":[0,7]},"
			  "\"eventlog\":{}}"));
	p = parse("{\"ek_ca\":\"x\",\"pcr_selection\":{\"sha256\":[0,1,2,3,4,5,6,7,8,9,14,15]},"
		  "\"eventlog\":{}}");
	assert_non_null(p);
	policy_free(p);
	/* No event policy: no default selection. */
	assert_null(parse("{\"ek_ca\":\"x\"}"));
	assert_null(parse("{\"ek_ca\":\"x\",\"eventlog\":{\"secureboot\":true}}"));
	assert_null(parse("{\"ek_ca\":\"x\",\"eventlog\":{\"secure_boot\":1}}"));
	assert_null(parse("{\"ek_ca\":\"x\",\"eventlog\":{\"boot_applications\":[\"00\"]}}"));
	assert_null(parse("{\"ek_ca\":\"x\",\"eventlog\":{\"boot_applications\":[]}}"));
	assert_null(parse("{\"ek_ca\":\"x\",\"eventlog\":{\"kernel_cmdlines\":[1]}}"));
	assert_null(parse("{\"ek_ca\":\"x\",\"eventlog\":{\"dbx_contains\":\"00\"}}"));
	assert_null(parse("{\"ek_ca\":\"x\",\"eventlog\":[]}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_required_invalid),
		cmocka_unit_test(test_secure_boot),
		cmocka_unit_test(test_secure_boot_keys),
		cmocka_unit_test(test_boot_applications),
		cmocka_unit_test(test_kernel_cmdlines),
		cmocka_unit_test(test_dbx),
		cmocka_unit_test(test_data_not_digest),
		cmocka_unit_test(test_policy_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
