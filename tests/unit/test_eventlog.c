/* src/eventlog against the four real logs of tests/data/eventlogs: the
 * replay equals tpm2_eventlog's (run here, an independent parser), the
 * secure boot state, boot applications and grub strings each log
 * describes, and the refusal of a flipped digest or a removed event. */
#include "eventlog_fixture.h"

struct real_log {
	const char *name;
	uint32_t events;      /* records, the Spec ID event included */
	int secure_boot;      /* as tests/data/eventlogs/README.md says */
	uint32_t apps;        /* EV_EFI_BOOT_SERVICES_APPLICATION events */
};

static const struct real_log logs[] = {
	{ "rhel8-uefi.bin", 83, 1, 3 },
	{ "ubuntu-2104-no-secure-boot.bin", 106, 0, 2 },
	{ "cos-101-amd-sev.bin", 49, 1, 4 },
	{ "arch-linux-workstation.bin", 25, -1, 2 },
};

/* Every bank tpm2_eventlog prints equals ours, PCR by PCR; the PCRs it
 * does not print had no event and keep their reset value. */
static void expect_tool_banks(const struct evlog *log, const struct tool_pcrs *t)
{
	static const uint8_t zero[EVLOG_MAX_DIGEST];

	for (int k = 0; k < TOOL_BANKS; k++) {
		struct evlog_bank b;

		if (t->has[k] == 0)
			continue;
		assert_int_equal(evlog_replay(log, tool_alg[k], &b), A11_OK);
		assert_int_equal(b.touched, t->has[k]);
		for (uint32_t pcr = 0; pcr < 16; pcr++) {
			const uint8_t *want = (t->has[k] & 1u << pcr) ? t->v[k][pcr] : zero;

			assert_memory_equal(b.pcr[pcr], want, b.size);
		}
	}
}

static void test_replay_equals_tpm2_eventlog(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		struct tool_pcrs t;
		struct evlog log;
		size_t len;
		uint8_t *buf = log_read(logs[i].name, &len);

		tool_replay(logs[i].name, &t);
		assert_int_equal(evlog_open(&log, buf, len), A11_OK);
		assert_int_equal(log.nevents, logs[i].events);
		expect_tool_banks(&log, &t);
		free(buf);
	}
}

/* A quote over sha256 PCRs 0-9 and 14 with the tool's values. */
static void quote_of(const struct tool_pcrs *t, TPML_PCR_SELECTION *sel,
		     struct a11_pcr_values *vals)
{
	const uint32_t mask = 0x43ff;

	memset(sel, 0, sizeof(*sel));
	memset(vals, 0, sizeof(*vals));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (uint32_t pcr = 0; pcr < 24; pcr++) {
		if ((mask & 1u << pcr) == 0)
			continue;
		sel->pcrSelections[0].pcrSelect[pcr / 8] |= (uint8_t)(1u << pcr % 8);
		vals->v[vals->count].size = 32;
		memcpy(vals->v[vals->count++].buffer, t->v[TOOL_SHA256][pcr], 32);
	}
}

/* A real log, opened, and a quote of the PCRs tpm2_eventlog replays. */
struct quoted {
	TPML_PCR_SELECTION sel;
	struct a11_pcr_values vals;
	struct tool_pcrs t;
	struct evlog log;
	uint8_t *buf;
	size_t len;
};

static void quoted_log(const char *name, struct quoted *q)
{
	q->buf = log_read(name, &q->len);
	tool_replay(name, &q->t);
	quote_of(&q->t, &q->sel, &q->vals);
	assert_int_equal(evlog_open(&q->log, q->buf, q->len), A11_OK);
}

static void test_check_quote(void **state)
{
	static struct quoted q;
	TPML_PCR_SELECTION *const sel = &q.sel;
	struct a11_pcr_values *const vals = &q.vals;
	struct evlog_mismatch bad = { 0, 0 };
	const struct evlog *log = &q.log;

	(void)state;
	quoted_log("rhel8-uefi.bin", &q);
	assert_int_equal(evlog_check_quote(log, sel, vals, 0xffffff, &bad), A11_OK);
	vals->v[7].buffer[5] ^= 1; /* the eighth selected value: PCR 7 */
	assert_int_equal(evlog_check_quote(log, sel, vals, 0xffffff, &bad),
			 A11_ERR_EVENTLOG_MISMATCH);
	assert_int_equal(bad.pcr, 7);
	assert_int_equal(bad.alg, TPM2_ALG_SHA256);
	/* A PCR the mask leaves out is not judged. */
	assert_int_equal(evlog_check_quote(log, sel, vals, 0xffffff & ~0x80u, &bad), A11_OK);
	vals->count--; /* values that do not fit the selection */
	assert_int_equal(evlog_check_quote(log, sel, vals, 0xffffff, &bad), A11_ERR_ARG);
	vals->count += 2;
	assert_int_equal(evlog_check_quote(log, sel, vals, 0xffffff, &bad), A11_ERR_ARG);
	vals->count--;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA512; /* a bank the log lacks */
	assert_int_equal(evlog_check_quote(log, sel, vals, 0xffffff, &bad), A11_ERR_UNSUPPORTED);
	free(q.buf);
}

/* The first event of pcr in the log. */
static struct evlog_event first_in(const struct evlog *log, uint32_t pcr, uint32_t type)
{
	struct evlog_iter it;
	struct evlog_event ev;

	evlog_iter_init(&it, log);
	while (evlog_next(&it, &ev))
		if (ev.pcr == pcr && ev.type == type)
			return ev;
	fail_msg("no event of type %#x in PCR %u", type, pcr);
	return ev;
}

/* A flipped digest byte and a removed event each change the replay of
 * their PCR, so a quote of the real PCRs refuses the log, naming it. */
static void test_tampered_log_refused(void **state)
{
	static struct quoted q;
	struct evlog_mismatch bad = { 0, 0 };
	struct evlog *const log = &q.log;
	struct evlog_event ev;
	uint8_t *buf;
	size_t len;

	(void)state;
	quoted_log("cos-101-amd-sev.bin", &q);
	buf = q.buf;
	len = q.len;
	ev = first_in(log, 7, EV_EFI_VARIABLE_DRIVER_CONFIG);
	((uint8_t *)evlog_event_digest(&ev, TPM2_ALG_SHA256)->d)[3] ^= 0x40;
	assert_int_equal(evlog_open(log, buf, len), A11_OK);
	assert_int_equal(evlog_check_quote(log, &q.sel, &q.vals, 0xffffff, &bad),
			 A11_ERR_EVENTLOG_MISMATCH);
	assert_int_equal(bad.pcr, 7);
	((uint8_t *)evlog_event_digest(&ev, TPM2_ALG_SHA256)->d)[3] ^= 0x40;
	assert_int_equal(evlog_check_quote(log, &q.sel, &q.vals, 0xffffff, &bad), A11_OK);

	ev = first_in(log, 4, EV_EFI_BOOT_SERVICES_APPLICATION);
	memmove(buf + ev.off, buf + ev.off + ev.len, len - ev.off - ev.len);
	assert_int_equal(evlog_open(log, buf, len - ev.len), A11_OK);
	assert_int_equal(evlog_check_quote(log, &q.sel, &q.vals, 0xffffff, &bad),
			 A11_ERR_EVENTLOG_MISMATCH);
	assert_int_equal(bad.pcr, 4);
	free(buf);
}

/* Types whose digest is of their data have it so in every real log;
 * EV_EFI_VARIABLE_BOOT's digest is of the whole UEFI_VARIABLE_DATA (Arch)
 * or of its VariableData alone (EDK2: the three others); the Arch
 * log's EV_IPL event 24 has a digest of something else. */
static void expect_data_digests(const struct evlog *log)
{
	struct evlog_iter it;
	struct evlog_event ev;

	evlog_iter_init(&it, log);
	while (evlog_next(&it, &ev)) {
		struct evlog_efi_var v;

		if (evlog_digest_is_of_data(ev.type)) {
			assert_int_equal(evlog_event_data_bound(&ev), A11_OK);
		} else if (ev.type == EV_EFI_VARIABLE_BOOT) {
			assert_int_equal(evlog_efi_var(&ev, &v), A11_OK);
			assert_true(evlog_digest_check(&ev, v.value, v.value_len) == A11_OK ||
				    evlog_digest_check(&ev, ev.data, ev.data_len) == A11_OK);
			assert_int_equal(evlog_event_data_bound(&ev), A11_ERR_UNSUPPORTED);
		}
	}
}

static void test_data_digests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		struct evlog log;
		struct evlog_event ev;
		struct evlog_iter it;
		size_t len;
		uint8_t *buf = log_read(logs[i].name, &len);

		assert_int_equal(evlog_open(&log, buf, len), A11_OK);
		expect_data_digests(&log);
		if (strcmp(logs[i].name, "arch-linux-workstation.bin") == 0) {
			evlog_iter_init(&it, &log);
			while (evlog_next(&it, &ev) && ev.index != 24)
				;
			assert_int_equal(ev.index, 24);
			assert_int_equal(ev.type, EV_IPL);
			assert_int_equal(evlog_event_data_bound(&ev), A11_ERR_UNSUPPORTED);
			assert_int_equal(evlog_digest_check(&ev, ev.data, ev.data_len),
					 A11_ERR_EVENTLOG_MISMATCH);
		}
		free(buf);
	}
}

static void test_secure_boot(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		struct evlog_secure_boot sb;
		struct evlog log;
		uint32_t bad = 0;
		size_t len;
		uint8_t *buf = log_read(logs[i].name, &len);

		assert_int_equal(evlog_open(&log, buf, len), A11_OK);
		assert_int_equal(evlog_secure_boot(&log, &sb, &bad), A11_OK);
		if (logs[i].secure_boot >= 0)
			assert_int_equal(sb.enabled, logs[i].secure_boot);
		if (sb.enabled == 1)
			for (int k = 0; k < EVLOG_SB__COUNT; k++)
				assert_true(sb.present[k]);
		free(buf);
	}
}

/* Every boot application decodes; shim, grub and a kernel by path on RHEL. */
static void test_boot_applications(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		struct evlog log;
		struct evlog_iter it;
		struct evlog_event ev;
		char paths[3 * EVLOG_PATH_MAX] = "";
		uint32_t apps = 0;
		size_t len;
		uint8_t *buf = log_read(logs[i].name, &len);

		assert_int_equal(evlog_open(&log, buf, len), A11_OK);
		evlog_iter_init(&it, &log);
		while (evlog_next(&it, &ev)) {
			struct evlog_image img;

			if (ev.type != EV_EFI_BOOT_SERVICES_APPLICATION)
				continue;
			assert_int_equal(ev.pcr, 4);
			assert_int_equal(evlog_image_load(&log, &ev, &img), A11_OK);
			if (strlen(paths) + strlen(img.path) + 2 < sizeof(paths))
				strcat(strcat(paths, img.path), ";");
			apps++;
		}
		assert_int_equal(apps, logs[i].apps);
		if (strcmp(logs[i].name, "rhel8-uefi.bin") == 0) {
			assert_non_null(strstr(paths, "shimx64.efi"));
			assert_non_null(strstr(paths, "grubx64.efi"));
		}
		free(buf);
	}
}

/* grub's strings, bound to their digests, in cos (upstream spelling) and
 * RHEL (its own); one kernel command line each. */
static void expect_grub(const char *name, const char *cmdline_part)
{
	struct evlog log;
	struct evlog_iter it;
	struct evlog_event ev;
	uint32_t cmds = 0, cmdlines = 0;
	size_t len;
	uint8_t *buf = log_read(name, &len);

	assert_int_equal(evlog_open(&log, buf, len), A11_OK);
	evlog_iter_init(&it, &log);
	while (evlog_next(&it, &ev)) {
		struct evlog_grub g;
		a11_err e = evlog_grub(&ev, &g);

		if (e == A11_ERR_NOT_FOUND)
			continue;
		assert_int_equal(e, A11_OK);
		if (g.kind == EVLOG_GRUB_CMD) {
			cmds++;
		} else {
			char text[1024];

			assert_true(g.len < sizeof(text));
			memcpy(text, g.text, g.len);
			text[g.len] = '\0';
			assert_non_null(strstr(text, cmdline_part));
			cmdlines++;
		}
	}
	assert_true(cmds > 10);
	assert_int_equal(cmdlines, 1);
	free(buf);
}

static void test_grub_commands(void **state)
{
	(void)state;
	expect_grub("cos-101-amd-sev.bin", "root=/dev/dm-0");
	expect_grub("rhel8-uefi.bin", "root=UUID=f3948fb4-cce7-4193-940a-c50052e93bf3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_equals_tpm2_eventlog),
		cmocka_unit_test(test_check_quote),
		cmocka_unit_test(test_tampered_log_refused),
		cmocka_unit_test(test_data_digests),
		cmocka_unit_test(test_secure_boot),
		cmocka_unit_test(test_boot_applications),
		cmocka_unit_test(test_grub_commands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
