/* UEFI and grub event data (TCG PC Client PFP §10.2.3, §10.2.6; grub's
 * tpm.c). Hand parsing with the bounded reader of rd.h: these are UEFI
 * structures in the firmware's byte order, not TPM types. */
#include <string.h>

#include "digest.h"
#include "efi.h"
#include "rd.h"

/* EFI_GUIDs as the log lays them out (first three fields little-endian). */
static const uint8_t guid_global[16] = { /* 8be4df61-93ca-11d2-aa0d-00e098032b8c */
	0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
	0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c };
static const uint8_t guid_security_db[16] = { /* d719b2cb-3d3a-4596-a3bc-dad00e67656f */
	0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
	0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f };

/* n UTF-16LE code units to ASCII, '?' for anything else (a NUL too, so
 * "db\0x" never reads as "db"); out holds n + 1 bytes. */
static void utf16_ascii(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned)in[2 * i] | (unsigned)in[2 * i + 1] << 8;

		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[n] = '\0';
}

a11_err evlog_efi_var(const struct evlog_event *ev, struct evlog_efi_var *out)
{
	struct rd r = { ev->data, ev->data_len, 0 };
	const uint8_t *guid, *name;
	uint64_t name_len, value_len;

	memset(out, 0, sizeof(*out));
	if (!rd_bytes(&r, 16, &guid) || !rd_uint(&r, 8, &name_len) || !rd_uint(&r, 8, &value_len))
		return A11_ERR_PARSE;
	if (name_len > EVLOG_VAR_NAME_MAX || !rd_bytes(&r, 2 * name_len, &name) ||
	    !rd_bytes(&r, value_len, &out->value) || r.off != r.len)
		return A11_ERR_PARSE;
	memcpy(out->guid, guid, 16);
	utf16_ascii(name, (size_t)name_len, out->name);
	out->value_len = (size_t)value_len;
	return A11_OK;
}

/* Which of PK, KEK, db, dbx the variable is; -1 for none. */
static int sb_key(const struct evlog_efi_var *v)
{
	static const struct {
		const uint8_t *guid;
		const char *name;
	} keys[EVLOG_SB__COUNT] = {
		[EVLOG_SB_PK] = { guid_global, "PK" },
		[EVLOG_SB_KEK] = { guid_global, "KEK" },
		[EVLOG_SB_DB] = { guid_security_db, "db" },
		[EVLOG_SB_DBX] = { guid_security_db, "dbx" },
	};

	for (int i = 0; i < EVLOG_SB__COUNT; i++)
		if (memcmp(v->guid, keys[i].guid, 16) == 0 && strcmp(v->name, keys[i].name) == 0)
			return i;
	return -1;
}

/* One PCR 7 driver-config event: bound to its digest, then recorded. A
 * SecureBoot value other than exactly 01 disables, whatever came before. */
static a11_err sb_event(const struct evlog_event *ev, struct evlog_secure_boot *out)
{
	struct evlog_efi_var v;
	a11_err e;
	int k;

	if ((e = evlog_event_data_bound(ev)) != A11_OK || (e = evlog_efi_var(ev, &v)) != A11_OK)
		return e;
	if (memcmp(v.guid, guid_global, 16) == 0 && strcmp(v.name, "SecureBoot") == 0) {
		bool on = v.value_len == 1 && v.value[0] == 1;

		out->enabled = (out->enabled == -1 || out->enabled == 1) && on ? 1 : 0;
		out->enabled_index = ev->index;
	} else if ((k = sb_key(&v)) >= 0) {
		out->present[k] = v.value_len > 0;
		out->index[k] = ev->index;
	}
	return A11_OK;
}

a11_err evlog_secure_boot(const struct evlog *log, struct evlog_secure_boot *out,
			  uint32_t *bad_index)
{
	struct evlog_iter it;
	struct evlog_event ev;
	a11_err e;

	memset(out, 0, sizeof(*out));
	out->enabled = -1;
	evlog_iter_init(&it, log);
	while (evlog_next(&it, &ev)) {
		if (ev.pcr != 7 || ev.type != EV_EFI_VARIABLE_DRIVER_CONFIG)
			continue;
		if ((e = sb_event(&ev, out)) != A11_OK) {
			if (bad_index != NULL)
				*bad_index = ev.index;
			return e;
		}
	}
	return A11_OK;
}

static const uint8_t guid_cert_sha256[16] = { /* c1c41626-504c-4092-aca9-41f936934328 */
	0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
	0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28 };

/* EFI_SIGNATURE_LIST: SignatureType, ListSize, HeaderSize, SignatureSize,
 * the header, then (ListSize - 28 - HeaderSize) / SignatureSize entries of
 * SignatureOwner (16) + data. */
a11_err evlog_sigdb_sha256(const uint8_t *value, size_t len,
			   void (*each)(const uint8_t hash[32], void *arg), void *arg)
{
	struct rd r = { value, len, 0 };

	while (r.off < r.len) {
		const uint8_t *type, *skip, *sig;
		uint32_t list, hdr, size;
		struct rd body;

		if (!rd_bytes(&r, 16, &type) || !rd_u32(&r, &list) || !rd_u32(&r, &hdr) ||
		    !rd_u32(&r, &size) || list < 28 || !rd_bytes(&r, list - 28, &body.p) ||
		    size <= 16)
			return A11_ERR_PARSE;
		body.len = list - 28;
		body.off = 0;
		if (!rd_bytes(&body, hdr, &skip) || (body.len - body.off) % size != 0)
			return A11_ERR_PARSE;
		if (memcmp(type, guid_cert_sha256, 16) != 0)
			continue;
		if (size != 16 + 32)
			return A11_ERR_PARSE;
		while (rd_bytes(&body, size, &sig))
			each(sig + 16, arg);
	}
	return A11_OK;
}

/* Appends a Media File Path node's UTF-16 text (UEFI §10.3.5.4), without
 * its NUL, to out; a longer path is a parse error, not a cut one. */
static a11_err file_path_node(const uint8_t *p, size_t n, char *out)
{
	size_t have = strlen(out), chars = n / 2;

	if (n % 2 != 0)
		return A11_ERR_PARSE;
	while (chars > 0 && p[2 * chars - 2] == 0 && p[2 * chars - 1] == 0)
		chars--;
	if (chars > EVLOG_PATH_MAX - have)
		return A11_ERR_PARSE;
	utf16_ascii(p, chars, out + have);
	return A11_OK;
}

/* EFI_DEVICE_PATH_PROTOCOL nodes: Type, SubType, a 16-bit Length that
 * counts its 4-byte header, up to End of Entire Device Path (7F FF). */
static a11_err devpath_file(const uint8_t *p, size_t len, char *out)
{
	struct rd r = { p, len, 0 };

	out[0] = '\0';
	while (r.off < r.len) {
		uint8_t type, sub;
		uint16_t n;
		const uint8_t *body;
		a11_err e;

		if (!rd_u8(&r, &type) || !rd_u8(&r, &sub) || !rd_u16(&r, &n) || n < 4 ||
		    !rd_bytes(&r, n - 4u, &body))
			return A11_ERR_PARSE;
		if (type == 0x7f && sub == 0xff)
			return A11_OK;
		if (type == 0x04 && sub == 0x04 && (e = file_path_node(body, n - 4u, out)) != A11_OK)
			return e;
	}
	return A11_OK;
}

/* Nothing after the device path but, from shim (RHEL 8's), up to 8 zero
 * bytes: it sizes the event as sizeof(EFI_IMAGE_LOAD_EVENT), whose
 * DevicePath[1] member pads the struct, plus the path's length. */
static bool shim_padding(struct rd *r)
{
	const uint8_t *pad;
	size_t n = r->len - r->off;

	if (n > 8 || !rd_bytes(r, n, &pad))
		return false;
	for (size_t i = 0; i < n; i++)
		if (pad[i] != 0)
			return false;
	return true;
}

a11_err evlog_image_load(const struct evlog *log, const struct evlog_event *ev,
			 struct evlog_image *out)
{
	struct rd r = { ev->data, ev->data_len, 0 };
	uint64_t devpath_len;

	memset(out, 0, sizeof(*out));
	if (ev->type != EV_EFI_BOOT_SERVICES_APPLICATION &&
	    ev->type != EV_EFI_BOOT_SERVICES_DRIVER && ev->type != EV_EFI_RUNTIME_SERVICES_DRIVER)
		return A11_ERR_ARG;
	/* ImageLocationInMemory is an EFI_PHYSICAL_ADDRESS (always 64 bits);
	 * the three fields after it are UINTN. */
	if (!rd_uint(&r, 8, &out->location) || !rd_uint(&r, log->uintn, &out->length) ||
	    !rd_uint(&r, log->uintn, &out->link_address) ||
	    !rd_uint(&r, log->uintn, &devpath_len) ||
	    !rd_bytes(&r, devpath_len, &out->devpath) || !shim_padding(&r))
		return A11_ERR_PARSE;
	out->devpath_len = (size_t)devpath_len;
	return devpath_file(out->devpath, out->devpath_len, out->path);
}

/* Upstream grub hashes the text alone; RHEL 8's grub hashes a command
 * with its terminating NUL but the kernel command line without (as the
 * rhel8 log shows). */
static const struct {
	const char *prefix;
	enum evlog_grub_kind kind;
	bool hash_nul;
} grub_prefixes[] = {
	{ "grub_cmd: ", EVLOG_GRUB_CMD, false },
	{ "kernel_cmdline: ", EVLOG_GRUB_KERNEL_CMDLINE, false },
	{ "grub_cmd ", EVLOG_GRUB_CMD, true },
	{ "grub_kernel_cmdline ", EVLOG_GRUB_KERNEL_CMDLINE, false },
};

a11_err evlog_grub(const struct evlog_event *ev, struct evlog_grub *out)
{
	const uint8_t *d = ev->data;
	size_t n = ev->data_len;

	memset(out, 0, sizeof(*out));
	if (ev->type != EV_IPL || ev->pcr != 8)
		return A11_ERR_NOT_FOUND;
	if (n > 0 && d[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < sizeof(grub_prefixes) / sizeof(grub_prefixes[0]); i++) {
		size_t pl = strlen(grub_prefixes[i].prefix);

		if (n < pl || memcmp(d, grub_prefixes[i].prefix, pl) != 0)
			continue;
		if (memchr(d + pl, '\0', n - pl) != NULL)
			return A11_ERR_PARSE;
		out->kind = grub_prefixes[i].kind;
		out->text = (const char *)d + pl;
		out->len = n - pl;
		if (grub_prefixes[i].hash_nul && n == ev->data_len)
			return A11_ERR_EVENTLOG_MISMATCH; /* no NUL, so not what was hashed */
		return evlog_digest_check(ev, d + pl, n - pl + grub_prefixes[i].hash_nul);
	}
	return A11_ERR_NOT_FOUND;
}
