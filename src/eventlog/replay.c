#include <string.h>

#include "digest.h"
#include "replay.h"

/* PFP §10.4.5.3: "StartupLocality" with its NUL, then the locality byte. */
static const uint8_t startup_sig[16] = "StartupLocality";

static bool is_startup_locality(const struct evlog_event *ev)
{
	return ev->type == EV_NO_ACTION && ev->data_len >= sizeof(startup_sig) &&
	       memcmp(ev->data, startup_sig, sizeof(startup_sig)) == 0;
}

/* Locality 0 or 3 (TPM2_Startup), or 4 (an H-CRTM): the value is what
 * PCR 0 starts from, so only before anything is extended into it, once. */
static a11_err startup_locality(struct evlog_bank *b, const struct evlog_event *ev,
				bool *seen)
{
	uint8_t loc;

	if (ev->pcr != 0 || ev->data_len != sizeof(startup_sig) + 1 || *seen ||
	    (b->touched & 1u) != 0)
		return A11_ERR_PARSE;
	loc = ev->data[sizeof(startup_sig)];
	if (loc != 0 && loc != 3 && loc != 4)
		return A11_ERR_PARSE;
	b->pcr[0][b->size - 1] = loc;
	b->touched |= 1u;
	*seen = true;
	return A11_OK;
}

static void bank_reset(struct evlog_bank *b, uint16_t alg, uint16_t size)
{
	memset(b, 0, sizeof(*b));
	b->alg = alg;
	b->size = size;
	for (unsigned i = 17; i <= 22; i++)
		memset(b->pcr[i], 0xff, size);
}

/* PCR := H(PCR ‖ digest) */
static a11_err extend(EVP_MD_CTX *ctx, const EVP_MD *md, uint8_t *pcr,
		      const struct evlog_digest *d)
{
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pcr, d->size) != 1 ||
	    EVP_DigestUpdate(ctx, d->d, d->size) != 1 || EVP_DigestFinal_ex(ctx, pcr, NULL) != 1)
		return A11_ERR_CRYPTO;
	return A11_OK;
}

static a11_err replay_event(struct evlog_bank *b, EVP_MD_CTX *ctx, const EVP_MD *md,
			    const struct evlog_event *ev, bool *locality_seen)
{
	const struct evlog_digest *d;

	if (is_startup_locality(ev))
		return startup_locality(b, ev, locality_seen);
	if (ev->type == EV_NO_ACTION)
		return A11_OK;
	d = evlog_event_digest(ev, b->alg);
	if (d == NULL || d->size != b->size)
		return A11_ERR_PARSE; /* evlog_open guarantees both */
	b->touched |= 1u << ev->pcr;
	return extend(ctx, md, b->pcr[ev->pcr], d);
}

static uint16_t bank_size(const struct evlog *log, uint16_t alg)
{
	for (uint32_t i = 0; i < log->nalgs && i < EVLOG_MAX_ALGS; i++)
		if (log->algs[i].alg == alg)
			return log->algs[i].size;
	return 0;
}

a11_err evlog_replay(const struct evlog *log, uint16_t alg, struct evlog_bank *out)
{
	const EVP_MD *md = evlog_md(alg);
	uint16_t size = bank_size(log, alg);
	struct evlog_iter it;
	struct evlog_event ev;
	EVP_MD_CTX *ctx;
	bool locality_seen = false;
	a11_err e = A11_OK;

	if (md == NULL || size == 0 || (size_t)EVP_MD_get_size(md) != size)
		return A11_ERR_UNSUPPORTED;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return A11_ERR_NOMEM;
	bank_reset(out, alg, size);
	evlog_iter_init(&it, log);
	while (e == A11_OK && evlog_next(&it, &ev))
		e = replay_event(out, ctx, md, &ev, &locality_seen);
	EVP_MD_CTX_free(ctx);
	return e;
}

/* One bank of the selection against its replay; *k walks vals, which
 * vals_fit() has checked. */
static a11_err check_bank(const struct evlog *log, const TPMS_PCR_SELECTION *s,
			  const struct a11_pcr_values *vals, uint32_t mask, uint32_t *k,
			  struct evlog_mismatch *bad)
{
	struct evlog_bank b;
	a11_err e;

	if ((e = evlog_replay(log, s->hash, &b)) != A11_OK)
		return e;
	for (uint32_t pcr = 0; pcr < 8u * s->sizeofSelect; pcr++) {
		const TPM2B_DIGEST *v;

		if ((s->pcrSelect[pcr / 8] & 1u << (pcr % 8)) == 0)
			continue;
		v = &vals->v[(*k)++];
		if (pcr >= EVLOG_NUM_PCRS || (mask & 1u << pcr) == 0)
			continue;
		if (v->size != b.size || memcmp(v->buffer, b.pcr[pcr], b.size) != 0) {
			bad->alg = s->hash;
			bad->pcr = pcr;
			return A11_ERR_EVENTLOG_MISMATCH;
		}
	}
	return A11_OK;
}

/* The values fit the selection, checked before any is compared so that a
 * short list is an argument error whatever the values say. */
static bool vals_fit(const TPML_PCR_SELECTION *sel, const struct a11_pcr_values *vals)
{
	uint32_t n = 0;

	if (sel->count > TPM2_NUM_PCR_BANKS || vals->count > A11_PCR_MAX_VALUES)
		return false;
	for (uint32_t i = 0; i < sel->count; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];

		if (s->sizeofSelect > sizeof(s->pcrSelect))
			return false;
		for (uint32_t b = 0; b < s->sizeofSelect; b++)
			n += (uint32_t)__builtin_popcount(s->pcrSelect[b]);
	}
	return n == vals->count;
}

a11_err evlog_check_quote(const struct evlog *log, const TPML_PCR_SELECTION *sel,
			  const struct a11_pcr_values *vals, uint32_t pcr_mask,
			  struct evlog_mismatch *bad)
{
	uint32_t k = 0;
	a11_err e;

	if (log == NULL || sel == NULL || vals == NULL || bad == NULL || !vals_fit(sel, vals))
		return A11_ERR_ARG;
	for (uint32_t i = 0; i < sel->count; i++)
		if ((e = check_bank(log, &sel->pcrSelections[i], vals, pcr_mask, &k, bad)) != A11_OK)
			return e;
	return A11_OK;
}
