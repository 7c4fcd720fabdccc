/* Crypto-agile event log parser (TCG PC Client PFP §10.2: TCG_PCR_EVENT,
 * TCG_EfiSpecIDEventStruct, TCG_PCR_EVENT2).
 *
 * Hand parsing with bounds checks, not tss2-mu: the log is in the
 * firmware's byte order (little-endian) while tss2-mu reads the TPM's
 * big-endian wire format, and a record's digest list takes each digest's
 * size from the Spec ID event, not from the TPMU_HA union, so
 * Tss2_MU_TPML_DIGEST_VALUES_Unmarshal would misread it. Every length and
 * count is checked against what is left of the buffer before it is used. */
#include <string.h>
#include <tss2/tss2_tpm2_types.h>

#include "eventlog.h"
#include "rd.h"

/* The size a known algorithm's digest has; 0 for one we do not know,
 * whose declared size is then taken as given (it is only skipped). */
static uint16_t known_size(uint16_t alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1: return 20;
	case TPM2_ALG_SHA256: case TPM2_ALG_SM3_256: case TPM2_ALG_SHA3_256: return 32;
	case TPM2_ALG_SHA384: case TPM2_ALG_SHA3_384: return 48;
	case TPM2_ALG_SHA512: case TPM2_ALG_SHA3_512: return 64;
	default: return 0;
	}
}

/* One digestSizes[] entry: a size that fits EVLOG_MAX_DIGEST, the true
 * size of a known algorithm, each algorithm once. */
static a11_err spec_alg(struct evlog *log, struct rd *r)
{
	struct evlog_alg a;

	if (!rd_u16(r, &a.alg) || !rd_u16(r, &a.size))
		return A11_ERR_PARSE;
	if (a.size == 0 || a.size > EVLOG_MAX_DIGEST ||
	    (known_size(a.alg) != 0 && known_size(a.alg) != a.size))
		return A11_ERR_PARSE;
	for (uint32_t i = 0; i < log->nalgs; i++)
		if (log->algs[i].alg == a.alg)
			return A11_ERR_PARSE;
	log->algs[log->nalgs++] = a;
	return A11_OK;
}

/* TCG_EfiSpecIDEventStruct after its 16-byte signature, filling exactly
 * the event's data. uintnSize: 1 = UINT32, 2 = UINT64 firmware. */
static a11_err spec_id(struct evlog *log, const uint8_t *data, uint32_t size)
{
	struct rd r = { data, size, 16 };
	uint32_t platform_class, n;
	uint8_t minor, major, errata, uintn, vendor;
	const uint8_t *skip;
	a11_err e;

	if (!rd_u32(&r, &platform_class) || !rd_u8(&r, &minor) || !rd_u8(&r, &major) ||
	    !rd_u8(&r, &errata) || !rd_u8(&r, &uintn) || !rd_u32(&r, &n))
		return A11_ERR_PARSE;
	if (major != 2 || (uintn != 1 && uintn != 2) || n == 0 || n > EVLOG_MAX_ALGS)
		return A11_ERR_PARSE;
	log->uintn = uintn == 1 ? 4 : 8;
	for (uint32_t i = 0; i < n; i++)
		if ((e = spec_alg(log, &r)) != A11_OK)
			return e;
	if (!rd_u8(&r, &vendor) || !rd_bytes(&r, vendor, &skip) || r.off != r.len)
		return A11_ERR_PARSE;
	return A11_OK;
}

/* The first record, a TCG_PCR_EVENT: PCRIndex, EventType, a SHA-1-sized
 * digest (zero here), EventSize, Event. A well-formed record that is not
 * the Spec ID Event03 starts a legacy SHA-1 log (or a TCG 1.2 EFI one,
 * "Spec ID Event00"): unsupported rather than malformed. */
static a11_err spec_event(struct evlog *log, struct rd *r)
{
	static const uint8_t sig03[16] = "Spec ID Event03";
	static const uint8_t zero[20];
	uint32_t pcr, type, size;
	const uint8_t *digest, *data;

	if (!rd_u32(r, &pcr) || !rd_u32(r, &type) || !rd_bytes(r, 20, &digest) ||
	    !rd_u32(r, &size) || size > EVLOG_MAX_DATA || !rd_bytes(r, size, &data))
		return A11_ERR_PARSE;
	if (pcr != 0 || type != EV_NO_ACTION || size < sizeof(sig03) ||
	    memcmp(data, sig03, sizeof(sig03)) != 0)
		return A11_ERR_UNSUPPORTED;
	if (memcmp(digest, zero, sizeof(zero)) != 0)
		return A11_ERR_PARSE;
	return spec_id(log, data, size);
}

/* One TPMT_HA of a record: an algorithm the Spec ID event declared (an
 * undeclared one has no known size, so the rest cannot be read), each
 * once. The digest goes to the slot of its algorithm's declaration. */
static a11_err event_digest(const struct evlog *log, struct rd *r, struct evlog_event *ev,
			    uint32_t *seen)
{
	uint16_t alg;

	if (!rd_u16(r, &alg))
		return A11_ERR_PARSE;
	for (uint32_t j = 0; j < log->nalgs; j++) {
		struct evlog_digest *d = &ev->dig[j];

		if (log->algs[j].alg != alg)
			continue;
		if ((*seen & 1u << j) != 0 || !rd_bytes(r, log->algs[j].size, &d->d))
			return A11_ERR_PARSE;
		*seen |= 1u << j;
		d->alg = alg;
		d->size = log->algs[j].size;
		return A11_OK;
	}
	return A11_ERR_PARSE;
}

/* One TCG_PCR_EVENT2. PFP §10.2.2: the record carries a digest for every
 * bank the Spec ID event declares, so the count must equal it. */
static a11_err event2(const struct evlog *log, struct rd *r, struct evlog_event *ev)
{
	uint32_t count, seen = 0;
	a11_err e;

	ev->off = r->off;
	if (!rd_u32(r, &ev->pcr) || !rd_u32(r, &ev->type) || !rd_u32(r, &count))
		return A11_ERR_PARSE;
	if (ev->pcr >= EVLOG_NUM_PCRS || count != log->nalgs)
		return A11_ERR_PARSE;
	ev->ndig = log->nalgs;
	for (uint32_t i = 0; i < count; i++)
		if ((e = event_digest(log, r, ev, &seen)) != A11_OK)
			return e;
	if (!rd_u32(r, &ev->data_len) || ev->data_len > EVLOG_MAX_DATA ||
	    !rd_bytes(r, ev->data_len, &ev->data))
		return A11_ERR_PARSE;
	ev->len = r->off - ev->off;
	return A11_OK;
}

static a11_err open_log(struct evlog *log, const uint8_t *buf, size_t len)
{
	struct rd r = { buf, len, 0 };
	struct evlog_event ev;
	a11_err e;

	if (len > EVLOG_MAX_BYTES)
		return A11_ERR_PARSE;
	if ((e = spec_event(log, &r)) != A11_OK)
		return e;
	log->buf = buf;
	log->len = len;
	log->body = r.off;
	log->nevents = 1;
	/* No trailing bytes: the log ends where its last record does. */
	while (r.off < r.len) {
		if (log->nevents == EVLOG_MAX_EVENTS)
			return A11_ERR_PARSE;
		if ((e = event2(log, &r, &ev)) != A11_OK)
			return e;
		log->nevents++;
	}
	return A11_OK;
}

a11_err evlog_open(struct evlog *log, const uint8_t *buf, size_t len)
{
	a11_err e;

	if (log == NULL || (buf == NULL && len != 0))
		return A11_ERR_ARG;
	memset(log, 0, sizeof(*log));
	/* A log that did not open iterates as empty. */
	if ((e = open_log(log, buf, len)) != A11_OK)
		memset(log, 0, sizeof(*log));
	return e;
}

void evlog_iter_init(struct evlog_iter *it, const struct evlog *log)
{
	it->log = log;
	it->off = log->body;
	it->index = 1;
}

bool evlog_next(struct evlog_iter *it, struct evlog_event *ev)
{
	struct rd r = { it->log->buf, it->log->len, it->off };

	/* evlog_open already walked these bytes; a failure here means the
	 * caller iterates a log that did not open, which ends the walk. */
	if (it->off >= it->log->len || event2(it->log, &r, ev) != A11_OK)
		return false;
	ev->index = it->index++;
	it->off = r.off;
	return true;
}

const struct evlog_digest *evlog_event_digest(const struct evlog_event *ev, uint16_t alg)
{
	for (uint32_t j = 0; j < ev->ndig && j < EVLOG_MAX_ALGS; j++)
		if (ev->dig[j].alg == alg)
			return &ev->dig[j];
	return NULL;
}

const char *evlog_type_name(uint32_t type)
{
	static const struct {
		uint32_t type;
		const char *name;
	} names[] = {
		{ EV_POST_CODE, "EV_POST_CODE" }, { EV_NO_ACTION, "EV_NO_ACTION" },
		{ EV_SEPARATOR, "EV_SEPARATOR" }, { EV_ACTION, "EV_ACTION" },
		{ EV_S_CRTM_CONTENTS, "EV_S_CRTM_CONTENTS" },
		{ EV_S_CRTM_VERSION, "EV_S_CRTM_VERSION" }, { EV_IPL, "EV_IPL" },
		{ EV_NONHOST_INFO, "EV_NONHOST_INFO" },
		{ EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
		{ EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT" },
		{ EV_EFI_BOOT_SERVICES_APPLICATION, "EV_EFI_BOOT_SERVICES_APPLICATION" },
		{ EV_EFI_BOOT_SERVICES_DRIVER, "EV_EFI_BOOT_SERVICES_DRIVER" },
		{ EV_EFI_RUNTIME_SERVICES_DRIVER, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
		{ EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT" }, { EV_EFI_ACTION, "EV_EFI_ACTION" },
		{ EV_EFI_PLATFORM_FIRMWARE_BLOB, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
		{ EV_EFI_HANDOFF_TABLES, "EV_EFI_HANDOFF_TABLES" },
		{ EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == type)
			return names[i].name;
	return "EV_UNKNOWN";
}
