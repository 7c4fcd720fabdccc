/* src/eventlog against hostile logs: every short prefix and random cuts of
 * the real logs, trailing bytes, byte mutations, random garbage, oversized
 * counts and lengths, legacy SHA-1 logs; and the replay rules on synthetic
 * logs (StartupLocality, EV_NO_ACTION, undeclared algorithms). Each input
 * is a heap copy of exactly its length, so ASan sees any over-read. */
#include "eventlog_fixture.h"

static const char *const names[] = {
	"rhel8-uefi.bin", "ubuntu-2104-no-secure-boot.bin",
	"cos-101-amd-sev.bin", "arch-linux-workstation.bin",
};

static void count_hash(const uint8_t hash[32], void *arg)
{
	(void)hash;
	(*(size_t *)arg)++;
}

/* Everything a policy would run on a log that opened. */
static void exercise(const struct evlog *log)
{
	size_t hashes = 0;
	static const uint16_t banks[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384 };
	struct evlog_secure_boot sb;
	struct evlog_iter it;
	struct evlog_event ev;
	struct evlog_bank b;
	uint32_t bad;

	for (size_t i = 0; i < sizeof(banks) / sizeof(banks[0]); i++)
		(void)evlog_replay(log, banks[i], &b);
	(void)evlog_secure_boot(log, &sb, &bad);
	evlog_iter_init(&it, log);
	while (evlog_next(&it, &ev)) {
		struct evlog_image img;
		struct evlog_grub g;
		struct evlog_efi_var v;

		(void)evlog_image_load(log, &ev, &img);
		(void)evlog_grub(&ev, &g);
		if (evlog_efi_var(&ev, &v) == A11_OK)
			(void)evlog_sigdb_sha256(v.value, v.value_len, count_hash, &hashes);
		(void)evlog_event_data_bound(&ev);
	}
}

static a11_err open_copy(const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	struct evlog log;
	a11_err e;

	assert_non_null(p);
	memcpy(p, src, len);
	e = evlog_open(&log, p, len);
	if (e == A11_OK)
		exercise(&log);
	free(p);
	return e;
}

/* A cut at a record boundary is a shorter, valid log; any other cut is
 * malformed. */
static bool at_boundary(const struct evlog *log, size_t cut)
{
	struct evlog_iter it;
	struct evlog_event ev;

	if (cut == log->body)
		return true;
	evlog_iter_init(&it, log);
	while (evlog_next(&it, &ev))
		if (ev.off + ev.len == cut)
			return true;
	return false;
}

static void expect_cut(const struct evlog *log, const uint8_t *buf, size_t cut)
{
	a11_err e = open_copy(buf, cut);

	if (at_boundary(log, cut))
		assert_int_equal(e, A11_OK);
	else
		assert_int_not_equal(e, A11_OK);
}

static void test_truncated(void **state)
{
	uint64_t seed = 0x5eed0001;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct evlog log;
		size_t len;
		uint8_t *buf = log_read(names[i], &len);

		assert_int_equal(evlog_open(&log, buf, len), A11_OK);
		for (size_t cut = 0; cut < 600 && cut < len; cut++)
			expect_cut(&log, buf, cut);
		for (int k = 0; k < 200; k++)
			expect_cut(&log, buf, prng(&seed) % len);
		free(buf);
	}
}

static void test_trailing_and_mutated(void **state)
{
	uint64_t seed = 0x5eed0002;
	size_t len;
	uint8_t *buf = log_read("cos-101-amd-sev.bin", &len);
	uint8_t *more = malloc(len + 1);

	(void)state;
	assert_non_null(more);
	memcpy(more, buf, len);
	more[len] = 0;
	assert_int_equal(open_copy(more, len + 1), A11_ERR_PARSE);
	/* Any byte to any value: refused or opened, never a crash. */
	for (int k = 0; k < 3000; k++) {
		size_t at = k < 200 ? (size_t)k : prng(&seed) % len;
		uint8_t was = buf[at];

		buf[at] = (uint8_t)prng(&seed);
		(void)open_copy(buf, len);
		buf[at] = was;
	}
	free(more);
	free(buf);
}

/* Noise alone, and noise after a valid Spec ID event (so the record
 * parser, not the header check, meets it). */
static void test_garbage(void **state)
{
	static const uint16_t algs[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256 };
	uint64_t seed = 0x5eed0003;
	uint8_t noise[4096];
	struct lb b;

	(void)state;
	lb_spec(&b, algs, 2);
	for (int k = 0; k < 2000; k++) {
		size_t n = prng(&seed) % sizeof(noise), head = b.len;

		for (size_t i = 0; i < n; i++)
			noise[i] = (uint8_t)prng(&seed);
		if (n > 0)
			assert_int_not_equal(open_copy(noise, n), A11_OK);
		lb_bytes(&b, noise, n);
		(void)open_copy(b.p, b.len);
		b.len = head;
	}
	free(b.p);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

/* EFI_SIGNATURE_LIST sequences (a dbx's value): a well-formed one yields
 * its SHA-256 entries; every malformed length is refused; garbage never
 * reads out of bounds. */
static void sigdb_list(struct lb *b, const uint8_t *type, uint32_t hdr, uint32_t size,
		       uint32_t n, uint8_t fill)
{
	uint8_t entry[64];

	lb_bytes(b, type, 16);
	lb_le(b, 28 + hdr + n * size, 4);
	lb_le(b, hdr, 4);
	lb_le(b, size, 4);
	memset(entry, fill, sizeof(entry));
	lb_bytes(b, entry, hdr);
	for (uint32_t i = 0; i < n; i++)
		lb_bytes(b, entry, size);
}

static void test_sigdb(void **state)
{
	static const uint8_t sha256[16] = { 0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
					    0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28 };
	static const uint8_t x509[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
					  0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };
	struct lb b = { 0 };
	uint64_t seed = 0x5eed;
	size_t n = 0;
	uint8_t *p;

	(void)state;
	sigdb_list(&b, x509, 0, 40, 1, 0x11);   /* skipped: not SHA-256 */
	sigdb_list(&b, sha256, 0, 48, 3, 0x22);
	assert_int_equal(evlog_sigdb_sha256(b.p, b.len, count_hash, &n), A11_OK);
	assert_int_equal(n, 3);
	for (size_t cut = 0; cut < b.len; cut++) { /* every truncation */
		p = malloc(cut ? cut : 1);
		memcpy(p, b.p, cut);
		n = 0;
		if (evlog_sigdb_sha256(p, cut, count_hash, &n) == A11_OK)
			assert_true(cut == 0 || cut == 68); /* empty, or the X.509 list alone */
		free(p);
	}
	b.len = 0;
	sigdb_list(&b, sha256, 0, 40, 1, 0x33);  /* a SHA-256 entry of the wrong size */
	assert_int_equal(evlog_sigdb_sha256(b.p, b.len, count_hash, &n), A11_ERR_PARSE);
	b.len = 0;
	sigdb_list(&b, sha256, 0, 16, 1, 0x33);  /* SignatureSize without data */
	assert_int_equal(evlog_sigdb_sha256(b.p, b.len, count_hash, &n), A11_ERR_PARSE);
	b.len = 0;
	sigdb_list(&b, sha256, 0, 48, 2, 0x44);
	put32(b.p + 20, 0xfffffff0u);            /* HeaderSize past the list */
	assert_int_equal(evlog_sigdb_sha256(b.p, b.len, count_hash, &n), A11_ERR_PARSE);
	put32(b.p + 20, 0);
	put32(b.p + 16, 27);                     /* ListSize under the list header */
	assert_int_equal(evlog_sigdb_sha256(b.p, b.len, count_hash, &n), A11_ERR_PARSE);
	b.len = 0;
	sigdb_list(&b, sha256, 0, 48, 1, 0x55);
	lb_bytes(&b, "0123456789", 10);
	put32(b.p + 16, 28 + 48 + 10);           /* entries not a whole number */
	assert_int_equal(evlog_sigdb_sha256(b.p, b.len, count_hash, &n), A11_ERR_PARSE);
	for (int i = 0; i < 2000; i++) {         /* garbage */
		size_t len = prng(&seed) % 300;

		p = malloc(len ? len : 1);
		for (size_t k = 0; k < len; k++)
			p[k] = (uint8_t)prng(&seed);
		if (len >= 28 && i % 2) /* a plausible ListSize now and then */
			put32(p + 16, 28 + prng(&seed) % 64);
		(void)evlog_sigdb_sha256(p, len, count_hash, &n);
		free(p);
	}
	free(b.p);
}

/* Offsets in a log of lb_spec(sha1, sha256) + one event of 4 data bytes. */
enum {
	OFF_SPEC_SIZE = 28, OFF_SPEC_MAJOR = 32 + 16 + 5, OFF_SPEC_UINTN = 32 + 16 + 7,
	OFF_SPEC_N = 32 + 16 + 8, OFF_SPEC_ALG0 = 32 + 16 + 12, SPEC_LEN = 32 + 16 + 12 + 8 + 1,
	OFF_EV_PCR = SPEC_LEN, OFF_EV_COUNT = SPEC_LEN + 8, OFF_EV_ALG0 = SPEC_LEN + 12,
	OFF_EV_SIZE = SPEC_LEN + 12 + 2 + 20 + 2 + 32,
};

static void small_log(struct lb *b)
{
	static const uint16_t algs[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256 };

	lb_spec(b, algs, 2);
	assert_int_equal(b->len, SPEC_LEN);
	lb_event(b, 4, EV_SEPARATOR, "\0\0\0\0", 4);
}

static a11_err patched(const struct lb *good, size_t off, uint32_t v, size_t width)
{
	uint8_t *p = malloc(good->len);
	struct evlog log;
	a11_err e;

	assert_non_null(p);
	memcpy(p, good->p, good->len);
	if (width == 4)
		put32(p + off, v);
	else if (width == 2)
		p[off] = (uint8_t)v, p[off + 1] = (uint8_t)(v >> 8);
	else
		p[off] = (uint8_t)v;
	e = evlog_open(&log, p, good->len);
	free(p);
	return e;
}

static void test_oversized_fields(void **state)
{
	struct lb b;
	struct evlog log;

	(void)state;
	small_log(&b);
	assert_int_equal(lb_open(&b, &log), A11_OK);
	assert_int_equal(log.nevents, 2);
	assert_int_equal(patched(&b, OFF_SPEC_SIZE, 0xffffffff, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_SPEC_SIZE, EVLOG_MAX_DATA + 1, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_SPEC_MAJOR, 1, 1), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_SPEC_UINTN, 3, 1), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_SPEC_N, 0, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_SPEC_N, 3, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_SPEC_N, 0xffffffff, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_SPEC_ALG0 + 2, 32, 2), A11_ERR_PARSE);  /* sha1 of 32 */
	assert_int_equal(patched(&b, OFF_SPEC_ALG0 + 2, 0, 2), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_SPEC_ALG0, TPM2_ALG_SHA256, 2), A11_ERR_PARSE); /* twice */
	assert_int_equal(patched(&b, OFF_EV_PCR, EVLOG_NUM_PCRS, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_EV_COUNT, 1, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_EV_COUNT, 3, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_EV_COUNT, 0xffffffff, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_EV_ALG0, TPM2_ALG_SHA384, 2), A11_ERR_PARSE); /* undeclared */
	assert_int_equal(patched(&b, OFF_EV_ALG0, TPM2_ALG_SHA256, 2), A11_ERR_PARSE); /* twice */
	assert_int_equal(patched(&b, OFF_EV_SIZE, 0xffffffff, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_EV_SIZE, 5, 4), A11_ERR_PARSE);
	assert_int_equal(patched(&b, OFF_EV_SIZE, 3, 4), A11_ERR_PARSE); /* a byte left over */
	assert_int_equal(evlog_open(&log, b.p, EVLOG_MAX_BYTES + 1), A11_ERR_PARSE);
	assert_int_equal(evlog_open(NULL, b.p, b.len), A11_ERR_ARG);
	assert_int_equal(evlog_open(&log, NULL, 1), A11_ERR_ARG);
	free(b.p);
}

/* One event's data over EVLOG_MAX_DATA, and one event too many. */
static void test_limits(void **state)
{
	static const uint16_t sha1[] = { TPM2_ALG_SHA1 };
	uint8_t *big = calloc(1, EVLOG_MAX_DATA + 1);
	struct evlog log;
	struct lb b;

	(void)state;
	assert_non_null(big);
	lb_spec(&b, sha1, 1);
	lb_event(&b, 1, EV_EFI_ACTION, big, EVLOG_MAX_DATA);
	assert_int_equal(lb_open(&b, &log), A11_OK);
	free(b.p);
	lb_spec(&b, sha1, 1);
	lb_event(&b, 1, EV_EFI_ACTION, big, EVLOG_MAX_DATA + 1);
	assert_int_equal(lb_open(&b, &log), A11_ERR_PARSE);
	free(b.p);
	lb_spec(&b, sha1, 1);
	for (uint32_t i = 1; i < EVLOG_MAX_EVENTS; i++)
		lb_event(&b, 2, EV_EFI_ACTION, "x", 1);
	assert_int_equal(lb_open(&b, &log), A11_OK);
	assert_int_equal(log.nevents, EVLOG_MAX_EVENTS);
	lb_event(&b, 2, EV_EFI_ACTION, "x", 1);
	assert_int_equal(lb_open(&b, &log), A11_ERR_PARSE);
	free(b.p);
	free(big);
}

/* A SHA-1 log (first record an ordinary TCG_PCR_EVENT) and a TCG 1.2 EFI
 * one ("Spec ID Event00") are unsupported, not malformed. */
static void test_legacy_sha1(void **state)
{
	struct evlog log;
	struct lb b;

	(void)state;
	small_log(&b);
	memcpy(b.p + 32, "Spec ID Event00", 16);
	assert_int_equal(lb_open(&b, &log), A11_ERR_UNSUPPORTED);
	put32(b.p + 4, EV_S_CRTM_VERSION);
	assert_int_equal(lb_open(&b, &log), A11_ERR_UNSUPPORTED);
	b.p[8] = 1; /* the Spec ID event's SHA-1 digest must be zero */
	memcpy(b.p + 32, "Spec ID Event03", 16);
	put32(b.p + 4, EV_NO_ACTION);
	assert_int_equal(lb_open(&b, &log), A11_ERR_PARSE);
	free(b.p);
}

static void extend_sha256(uint8_t *pcr, const void *msg, size_t len)
{
	uint8_t buf[64];

	memcpy(buf, pcr, 32);
	assert_int_equal(EVP_Digest(msg, len, buf + 32, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_Digest(buf, 64, pcr, NULL, EVP_sha256(), NULL), 1);
}

static void startup_event(struct lb *b, uint8_t locality)
{
	uint8_t d[17] = "StartupLocality";

	d[16] = locality;
	lb_event(b, 0, EV_NO_ACTION, d, sizeof(d));
}

/* StartupLocality sets PCR 0's start value; other EV_NO_ACTION events
 * extend nothing; a misplaced, repeated or impossible locality is refused. */
static void test_startup_locality(void **state)
{
	static const uint16_t algs[] = { TPM2_ALG_SHA256, TPM2_ALG_SHA1 };
	uint8_t want[32] = { 0 };
	struct evlog_bank bank;
	struct evlog log;
	struct lb b;

	(void)state;
	want[31] = 3;
	extend_sha256(want, "crtm", 4);
	lb_spec(&b, algs, 2);
	startup_event(&b, 3);
	lb_event(&b, 0, EV_NO_ACTION, "SP800-155 Event\0", 16);
	lb_event(&b, 0, EV_S_CRTM_VERSION, "crtm", 4);
	assert_int_equal(lb_open(&b, &log), A11_OK);
	assert_int_equal(evlog_replay(&log, TPM2_ALG_SHA256, &bank), A11_OK);
	assert_memory_equal(bank.pcr[0], want, 32);
	assert_int_equal(bank.touched, 1);
	startup_event(&b, 3); /* after an extension of PCR 0, and a second one */
	assert_int_equal(lb_open(&b, &log), A11_OK);
	assert_int_equal(evlog_replay(&log, TPM2_ALG_SHA256, &bank), A11_ERR_PARSE);
	free(b.p);
	lb_spec(&b, algs, 2);
	startup_event(&b, 2);
	assert_int_equal(lb_open(&b, &log), A11_OK);
	assert_int_equal(evlog_replay(&log, TPM2_ALG_SHA1, &bank), A11_ERR_PARSE);
	free(b.p);
}

/* A declared algorithm we cannot hash (SM3) parses; its bank alone is
 * unsupported. D-RTM PCRs keep their all-ones reset value. */
static void test_other_algorithms(void **state)
{
	static const uint16_t algs[] = { TPM2_ALG_SM3_256, TPM2_ALG_SHA256 };
	static const uint8_t ones[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[20];
	struct evlog_bank bank;
	struct evlog log;
	struct lb b;

	(void)state;
	/* By hand: lb_spec() sizes digests with OpenSSL, which has no SM3 here. */
	memset(&b, 0, sizeof(b));
	lb_le(&b, 0, 4);
	lb_le(&b, EV_NO_ACTION, 4);
	lb_bytes(&b, zero, 20);
	lb_le(&b, 16 + 12 + 8 + 1, 4);
	lb_bytes(&b, "Spec ID Event03", 16);
	lb_le(&b, 0, 4);
	lb_le(&b, 0x02000200u, 4);
	lb_le(&b, 2, 4);
	for (int i = 0; i < 2; i++) {
		lb_le(&b, algs[i], 2);
		lb_le(&b, 32, 2);
	}
	lb_le(&b, 0, 1);
	lb_le(&b, 7, 4);
	lb_le(&b, EV_EFI_ACTION, 4);
	lb_le(&b, 2, 4);
	lb_le(&b, TPM2_ALG_SM3_256, 2);
	lb_bytes(&b, ones, 32);
	lb_le(&b, TPM2_ALG_SHA256, 2);
	lb_bytes(&b, ones, 32);
	lb_le(&b, 0, 4);
	assert_int_equal(lb_open(&b, &log), A11_OK);
	assert_int_equal(evlog_replay(&log, TPM2_ALG_SM3_256, &bank), A11_ERR_UNSUPPORTED);
	assert_int_equal(evlog_replay(&log, TPM2_ALG_SHA1, &bank), A11_ERR_UNSUPPORTED);
	assert_int_equal(evlog_replay(&log, TPM2_ALG_SHA256, &bank), A11_OK);
	assert_memory_equal(bank.pcr[17], ones, 32);
	assert_memory_equal(bank.pcr[22], ones, 32);
	assert_int_equal(bank.touched, 1u << 7);
	free(b.p);
}

/* UEFI_VARIABLE_DATA for SecureBoot: name, GUID, value. */
static size_t sb_var(uint8_t *out, uint8_t value)
{
	static const uint8_t guid[16] = { 0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
					  0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c };
	static const char name[] = "SecureBoot";
	size_t n = 0;

	memcpy(out, guid, 16);
	n = 16;
	memset(out + n, 0, 16);
	out[n] = 10;
	out[n + 8] = 1;
	n += 16;
	for (size_t i = 0; i < 10; i++, n += 2)
		out[n] = (uint8_t)name[i], out[n + 1] = 0;
	out[n++] = value;
	return n;
}

/* Data that says SecureBoot = 1 under a digest of 0 is refused, naming
 * the event; a grub command under another digest too. */
static void test_unbound_data(void **state)
{
	static const uint16_t algs[] = { TPM2_ALG_SHA256 };
	struct evlog_secure_boot sb;
	struct evlog_iter it;
	struct evlog_event ev;
	struct evlog_grub g;
	struct evlog log;
	uint8_t on[64], off[64];
	size_t n;
	uint32_t bad = 0;
	struct lb b;

	(void)state;
	n = sb_var(on, 1);
	assert_int_equal(sb_var(off, 0), n);
	lb_spec(&b, algs, 1);
	lb_event(&b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, on, n);
	lb_event_of(&b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, off, n, on, n);
	lb_event_of(&b, 8, EV_IPL, "ls", 2, "grub_cmd: reboot", 17);
	assert_int_equal(lb_open(&b, &log), A11_OK);
	assert_int_equal(evlog_secure_boot(&log, &sb, &bad), A11_ERR_EVENTLOG_MISMATCH);
	assert_int_equal(bad, 2);
	evlog_iter_init(&it, &log);
	while (evlog_next(&it, &ev) && ev.index != 3)
		;
	assert_int_equal(evlog_grub(&ev, &g), A11_ERR_EVENTLOG_MISMATCH);
	free(b.p);
	lb_spec(&b, algs, 1);
	lb_event(&b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, on, n);
	lb_event(&b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, off, n);
	assert_int_equal(lb_open(&b, &log), A11_OK);
	assert_int_equal(evlog_secure_boot(&log, &sb, &bad), A11_OK);
	assert_int_equal(sb.enabled, 0); /* 01 then 00: not enabled */
	assert_int_equal(sb.enabled_index, 2);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_sigdb),
		cmocka_unit_test(test_trailing_and_mutated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_oversized_fields),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_legacy_sha1),
		cmocka_unit_test(test_startup_locality),
		cmocka_unit_test(test_other_algorithms),
		cmocka_unit_test(test_unbound_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
