/* Private scalars left in a process's memory, for tests/integ/memscan.sh:
 *   memscan PID KEY.pem...
 * takes from each PEM private key its secret numbers (EC: d; RSA: d, p, q)
 * and searches every readable mapping of PID (heap, anonymous mmaps,
 * thread stacks, data) for each, both big-endian (as DER, PEM and
 * BN_bn2bin leave them) and little-endian (as a BIGNUM's limbs hold them
 * on this machine). Prints one line per copy found; exit 0 if none, 1 if
 * any, 2 if the scan itself failed. Run it as root (ptrace access), with
 * PID stopped so that memory does not move under the scan. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define MAX_NEEDLES 64
#define CHUNK (1u << 20)
/* Bigger readable mappings are reserved address space (ASan's shadow),
 * not memory the process has written. */
#define MAPPING_MAX ((uint64_t)1 << 32)

struct needle {
	char what[96];
	uint8_t be[512], le[512];
	size_t len;
};

static struct needle needles[MAX_NEEDLES];
static size_t n_needles, max_len;

static int add_bn(const char *file, EVP_PKEY *k, const char *param)
{
	BIGNUM *bn = NULL;
	struct needle *nd = &needles[n_needles];
	int len;

	if (n_needles == MAX_NEEDLES || EVP_PKEY_get_bn_param(k, param, &bn) != 1 ||
	    (len = BN_num_bytes(bn)) <= 0 || (size_t)len > sizeof(nd->be)) {
		fprintf(stderr, "memscan: %s: no usable %s\n", file, param);
		BN_clear_free(bn);
		return -1;
	}
	nd->len = (size_t)BN_bn2bin(bn, nd->be);
	for (size_t i = 0; i < nd->len; i++)
		nd->le[i] = nd->be[nd->len - 1 - i];
	snprintf(nd->what, sizeof(nd->what), "%s %s", file, param);
	if (nd->len > max_len)
		max_len = nd->len;
	n_needles++;
	BN_clear_free(bn);
	return 0;
}

static int add_key(const char *file)
{
	FILE *f = fopen(file, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	int rc = -1;

	if (k == NULL)
		fprintf(stderr, "memscan: cannot read the private key %s\n", file);
	else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA)
		rc = add_bn(file, k, OSSL_PKEY_PARAM_RSA_D) || add_bn(file, k, OSSL_PKEY_PARAM_RSA_FACTOR1) ||
		     add_bn(file, k, OSSL_PKEY_PARAM_RSA_FACTOR2) ? -1 : 0;
	else
		rc = add_bn(file, k, OSSL_PKEY_PARAM_PRIV_KEY);
	EVP_PKEY_free(k);
	if (f != NULL)
		fclose(f);
	return rc;
}

static int search(const uint8_t *buf, size_t len, uint64_t base, const char *map)
{
	int found = 0;

	for (size_t i = 0; i < n_needles; i++) {
		const struct needle *nd = &needles[i];

		for (int order = 0; order < 2; order++) {
			const uint8_t *p = buf, *end = buf + len, *hit;

			while ((hit = memmem(p, (size_t)(end - p), order ? nd->le : nd->be,
					     nd->len)) != NULL) {
				printf("found %s (%s) at 0x%" PRIx64 " in %s\n", nd->what,
				       order ? "little-endian" : "big-endian",
				       base + (uint64_t)(hit - buf), map);
				found = 1;
				p = hit + 1;
			}
		}
	}
	return found;
}

/* One mapping in chunks that overlap by a needle's length, so that no
 * copy straddling two chunks is missed (nor reported twice). */
static int scan_mapping(int mem, uint64_t start, uint64_t end, const char *map, uint8_t *buf)
{
	uint64_t at = start;
	int found = 0;

	while (at < end) {
		size_t want = end - at > CHUNK ? CHUNK : (size_t)(end - at);
		ssize_t got = pread(mem, buf, want, (off_t)at);

		if (got <= 0)
			return found; /* [vvar] and the like: not readable */
		found |= search(buf, (size_t)got, at, map);
		if (at + (uint64_t)got >= end)
			break;
		at += (uint64_t)got - (max_len - 1);
	}
	return found;
}

static int scan(const char *pid)
{
	char path[64], line[512];
	FILE *maps;
	int mem, found = 0;
	uint8_t *buf = malloc(CHUNK);

	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%s/mem", pid);
	mem = open(path, O_RDONLY);
	if (maps == NULL || mem < 0 || buf == NULL) {
		fprintf(stderr, "memscan: cannot read the memory of %s: %s\n", pid, strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof(line), maps) != NULL) {
		uint64_t start, end;
		char perms[8];

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r' || end - start > MAPPING_MAX)
			continue;
		found |= scan_mapping(mem, start, end, line, buf);
	}
	free(buf);
	close(mem);
	fclose(maps);
	return found;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: memscan PID KEY.pem...\n");
		return 2;
	}
	for (int i = 2; i < argc; i++)
		if (add_key(argv[i]) != 0)
			return 2;
	return scan(argv[1]);
}
