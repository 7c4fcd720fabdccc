/* Event logs for the src/eventlog tests: the real logs of
 * tests/data/eventlogs (read from the source tree: tests run from its
 * root), the PCR values tpm2_eventlog replays from them (an independent
 * parser, run here rather than stored), and a builder of synthetic logs.
 * Header-only (static inline): each unit test is its own binary. */
#ifndef A11_TEST_EVENTLOG_FIXTURE_H
#define A11_TEST_EVENTLOG_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "../../src/eventlog/digest.h"
#include "../../src/eventlog/efi.h"
#include "../../src/eventlog/eventlog.h"
#include "../../src/eventlog/replay.h"

#define LOG_DIR "tests/data/eventlogs/"

static inline uint8_t *log_read(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	uint8_t *p;
	long n;

	snprintf(path, sizeof(path), LOG_DIR "%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	p = malloc((size_t)n);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* What tpm2_eventlog prints after "pcrs:": per bank, the PCRs it saw
 * events for and their replayed values. */
enum { TOOL_SHA1, TOOL_SHA256, TOOL_SHA384, TOOL_BANKS };
static const uint16_t tool_alg[TOOL_BANKS] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384 };
static const char *const tool_bank[TOOL_BANKS] = { "sha1", "sha256", "sha384" };

struct tool_pcrs {
	uint32_t has[TOOL_BANKS]; /* bit n: PCR n printed */
	uint8_t v[TOOL_BANKS][EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
};

static inline void tool_line(struct tool_pcrs *t, int *bank, const char *line)
{
	char hex[2 * EVLOG_MAX_DIGEST + 1];
	unsigned pcr;

	for (int b = 0; b < TOOL_BANKS; b++) {
		char want[16];

		snprintf(want, sizeof(want), "  %s:\n", tool_bank[b]);
		if (strcmp(line, want) == 0)
			*bank = b;
	}
	if (*bank < 0 || sscanf(line, " %u : 0x%128s", &pcr, hex) != 2)
		return;
	assert_true(pcr < EVLOG_NUM_PCRS);
	t->has[*bank] |= 1u << pcr;
	for (size_t i = 0; hex[2 * i] != '\0'; i++) {
		unsigned byte;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
		t->v[*bank][pcr][i] = (uint8_t)byte;
	}
}

static inline void tool_replay(const char *name, struct tool_pcrs *t)
{
	char cmd[512], line[512];
	int bank = -1, in_pcrs = 0;
	FILE *f;

	memset(t, 0, sizeof(*t));
	snprintf(cmd, sizeof(cmd), "tpm2_eventlog " LOG_DIR "%s 2>/dev/null", name);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strcmp(line, "pcrs:\n") == 0)
			in_pcrs = 1;
		else if (in_pcrs)
			tool_line(t, &bank, line);
	}
	assert_int_equal(pclose(f), 0);
	assert_true(t->has[TOOL_SHA1] != 0 && t->has[TOOL_SHA256] != 0);
}

/* A synthetic log, grown as needed. */
struct lb {
	uint8_t *p;
	size_t len, cap;
	uint32_t nalgs;
	uint16_t algs[EVLOG_MAX_ALGS];
};

static inline void lb_bytes(struct lb *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = 2 * (b->len + n) + 256;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n > 0)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static inline void lb_le(struct lb *b, uint64_t v, size_t n)
{
	uint8_t x[8];

	for (size_t i = 0; i < n; i++)
		x[i] = (uint8_t)(v >> 8 * i);
	lb_bytes(b, x, n);
}

static inline size_t alg_size(uint16_t alg)
{
	return (size_t)EVP_MD_get_size(evlog_md(alg));
}

/* The Spec ID event declaring algs (their true sizes), UINT64 firmware. */
static inline void lb_spec(struct lb *b, const uint16_t *algs, uint32_t n)
{
	static const uint8_t zero[20];

	memset(b, 0, sizeof(*b));
	b->nalgs = n;
	memcpy(b->algs, algs, n * sizeof(*algs));
	lb_le(b, 0, 4);
	lb_le(b, EV_NO_ACTION, 4);
	lb_bytes(b, zero, 20);
	lb_le(b, 16 + 4 + 4 + 4 + 4 * n + 1, 4);
	lb_bytes(b, "Spec ID Event03", 16);
	lb_le(b, 0, 4);                       /* platformClass */
	lb_le(b, 0x02000200u, 4);             /* minor 0, major 2, errata 0, uintnSize 2 */
	lb_le(b, n, 4);
	for (uint32_t i = 0; i < n; i++) {
		lb_le(b, algs[i], 2);
		lb_le(b, alg_size(algs[i]), 2);
	}
	lb_le(b, 0, 1);                       /* vendorInfoSize */
}

/* A TCG_PCR_EVENT2 whose digests are H(msg) in every bank. */
static inline void lb_event_of(struct lb *b, uint32_t pcr, uint32_t type, const void *msg,
			       size_t mlen, const void *data, size_t dlen)
{
	lb_le(b, pcr, 4);
	lb_le(b, type, 4);
	lb_le(b, b->nalgs, 4);
	for (uint32_t i = 0; i < b->nalgs; i++) {
		uint8_t h[EVP_MAX_MD_SIZE];

		assert_int_equal(EVP_Digest(msg, mlen, h, NULL, evlog_md(b->algs[i]), NULL), 1);
		lb_le(b, b->algs[i], 2);
		lb_bytes(b, h, alg_size(b->algs[i]));
	}
	lb_le(b, dlen, 4);
	lb_bytes(b, data, dlen);
}

static inline void lb_event(struct lb *b, uint32_t pcr, uint32_t type, const void *data, size_t n)
{
	lb_event_of(b, pcr, type, data, n, data, n);
}

static inline a11_err lb_open(const struct lb *b, struct evlog *log)
{
	return evlog_open(log, b->p, b->len);
}

/* Deterministic noise, so a failure reproduces. */
static inline uint32_t prng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

#endif
