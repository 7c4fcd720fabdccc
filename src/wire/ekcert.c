/* EK certificate verification (declared in attest.h). The certificate is
 * untrusted network input; the CA path is local configuration. */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "../common/log.h"
#include "attest.h"
#include "ekverdict.h"
#include "key.h"

/* Adds every certificate in a PEM file (bundles are common for CA chains).
 * Other PEM blocks (keys, CRLs) are skipped by PEM_read_bio_X509 itself. */
static a11_err load_pem_file(X509_STORE *store, const char *path, unsigned *added)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *x = NULL;
	unsigned long e;
	a11_err r = A11_ERR_ARG;

	if (bio == NULL) {
		log_error("cannot open EK CA file %s", path);
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		/* Duplicates (a root both alone and in a bundle) are accepted. */
		int ok = X509_STORE_add_cert(store, x);

		X509_free(x);
		if (ok != 1) {
			r = A11_ERR_CRYPTO;
			goto out;
		}
		(*added)++;
	}
	/* The loop ends with "no start line" at the end of the file; any other
	 * error is a damaged certificate, which we refuse rather than skip so
	 * a broken trust store is noticed. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		r = A11_OK;
	else
		log_error("damaged certificate in EK CA file %s", path);
out:
	ERR_clear_error();
	BIO_free(bio);
	return r;
}

static bool is_pem_name(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".pem") == 0;
}

/* Every regular *.pem file in dir. We read the files ourselves instead of
 * X509_LOOKUP_hash_dir, which only finds c_rehash-style <hash>.0 links. */
static a11_err load_pem_dir(X509_STORE *store, const char *dir, unsigned *added)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[PATH_MAX];
	a11_err r = A11_OK;

	if (d == NULL) {
		log_error("cannot open EK CA directory %s", dir);
		return A11_ERR_ARG;
	}
	while (r == A11_OK && (de = readdir(d)) != NULL) {
		int n;

		if (!is_pem_name(de->d_name))
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			r = A11_ERR_ARG;
			break;
		}
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		r = load_pem_file(store, path, added);
	}
	closedir(d);
	return r;
}

static a11_err load_store(const char *ca_path, X509_STORE **out)
{
	X509_STORE *store = X509_STORE_new();
	unsigned added = 0;
	struct stat st;
	a11_err r = A11_ERR_NOMEM;

	if (store == NULL)
		goto out;
	r = A11_ERR_ARG;
	if (stat(ca_path, &st) != 0) {
		log_error("EK CA path %s does not exist", ca_path);
		goto out;
	}
	r = S_ISDIR(st.st_mode) ? load_pem_dir(store, ca_path, &added)
				: load_pem_file(store, ca_path, &added);
	if (r == A11_OK && added == 0) {
		log_error("no certificate in EK CA path %s", ca_path);
		r = A11_ERR_ARG;
	}
out:
	if (r != A11_OK) {
		X509_STORE_free(store);
		store = NULL;
	}
	*out = store;
	return r;
}

/* ---- parsed stores, kept while their files stay the same ----------------
 * Reading and parsing the PEM files (and decoding each CA key) was half of
 * an EK check, at every challenge. A store is reused while the CA path
 * looks the same: its fingerprint hashes what stat(2) says of the path and,
 * for a directory, of every *.pem in it (name, inode, size, modification
 * and change times to the nanosecond), so the next check after any edit,
 * addition or removal reads the files again. */
#define STORE_CACHE 8

struct cached_store {
	char path[PATH_MAX];
	uint8_t print[32];
	X509_STORE *store;        /* one reference held here */
	unsigned long used;
};

static struct cached_store cache[STORE_CACHE];
static unsigned long cache_clock;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static bool hash_stat(EVP_MD_CTX *h, const char *name, const struct stat *st)
{
	const long long f[] = { (long long)st->st_dev, (long long)st->st_ino,
				(long long)st->st_mode, (long long)st->st_size,
				(long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
				(long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec };

	return EVP_DigestUpdate(h, name, strlen(name) + 1) == 1 &&
	       EVP_DigestUpdate(h, f, sizeof(f)) == 1;
}

static bool hash_dir(EVP_MD_CTX *h, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[PATH_MAX];
	bool ok = d != NULL;

	while (ok && (de = readdir(d)) != NULL) {
		int n;

		if (!is_pem_name(de->d_name))
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ok = n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 &&
		     hash_stat(h, de->d_name, &st);
	}
	if (d != NULL)
		closedir(d);
	return ok;
}

bool ekcert_fingerprint(const char *ca_path, uint8_t out[32])
{
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	struct stat st;
	bool ok = h != NULL && strlen(ca_path) < PATH_MAX && stat(ca_path, &st) == 0 &&
		  EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 && hash_stat(h, ca_path, &st) &&
		  (!S_ISDIR(st.st_mode) || hash_dir(h, ca_path)) &&
		  EVP_DigestFinal_ex(h, out, NULL) == 1;

	EVP_MD_CTX_free(h);
	return ok;
}

static X509_STORE *cache_find(const char *ca_path, const uint8_t print[32])
{
	X509_STORE *s = NULL;

	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < STORE_CACHE; i++)
		if (cache[i].store != NULL && strcmp(cache[i].path, ca_path) == 0 &&
		    memcmp(cache[i].print, print, 32) == 0 && X509_STORE_up_ref(cache[i].store)) {
			cache[i].used = ++cache_clock;
			s = cache[i].store;
			break;
		}
	pthread_mutex_unlock(&cache_lock);
	return s;
}

/* Keep store for ca_path in its path's slot, else the least used one. */
static void cache_put(const char *ca_path, const uint8_t print[32], X509_STORE *store)
{
	struct cached_store *c = &cache[0];
	X509_STORE *old;

	if (!X509_STORE_up_ref(store))
		return;
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < STORE_CACHE; i++) {
		if (cache[i].store != NULL && strcmp(cache[i].path, ca_path) == 0) {
			c = &cache[i];
			break;
		}
		if (cache[i].used < c->used)
			c = &cache[i];
	}
	old = c->store;
	snprintf(c->path, sizeof(c->path), "%s", ca_path);
	memcpy(c->print, print, 32);
	c->store = store;
	c->used = ++cache_clock;
	pthread_mutex_unlock(&cache_lock);
	X509_STORE_free(old);
}

/* The store for ca_path, whose fingerprint is print if printed: the kept
 * one if its files are unchanged. *as_printed: the store is the one of
 * print (a path that changed while it was read is not). */
static a11_err store_for(const char *ca_path, const uint8_t print[32], bool printed,
			 X509_STORE **out, bool *as_printed)
{
	uint8_t again[32];
	a11_err r;

	*as_printed = false;
	if (printed && (*out = cache_find(ca_path, print)) != NULL) {
		*as_printed = true;
		return A11_OK;
	}
	r = load_store(ca_path, out);
	if (r == A11_OK && printed && ekcert_fingerprint(ca_path, again) &&
	    memcmp(again, print, 32) == 0) {
		cache_put(ca_path, print, *out);
		*as_printed = true;
	}
	return r;
}

/* When the whole verified chain is valid: the latest notBefore to the
 * earliest notAfter of its certificates (what a kept verdict may last). */
struct window {
	bool known;
	time_t not_before, not_after;
};

static bool asn1_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return false;
	*out = timegm(&tm);
	return true;
}

static bool chain_window(STACK_OF(X509) *chain, struct window *w)
{
	int n = chain ? sk_X509_num(chain) : 0;

	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);
		time_t nb, na;

		if (!asn1_time(X509_get0_notBefore(x), &nb) ||
		    !asn1_time(X509_get0_notAfter(x), &na))
			return false;
		if (i == 0 || nb > w->not_before)
			w->not_before = nb;
		if (i == 0 || na < w->not_after)
			w->not_after = na;
	}
	return n > 0;
}

/* Every CA certificate is in the trusted store, intermediates included, and
 * the chain must still end at a self-signed root there (no PARTIAL_CHAIN):
 * a CA path holding only an intermediate is a configuration error.
 *
 * EK certificates look odd to a TLS stack: empty subject with the TPM
 * identity in a critical subjectAltName directoryName, EKU tcg-kp-
 * EKCertificate (2.23.133.8.1), keyEncipherment or keyAgreement only, and
 * an unparsed subjectDirectoryAttributes. OpenSSL 3.0 accepts all of it as
 * long as no purpose is set (it then checks neither EKU nor the leaf's key
 * usage) and X509_V_FLAG_X509_STRICT, the only flag that inspects empty
 * subjects, stays off. So we set neither; any TLS or S/MIME purpose would
 * reject every EK certificate. Issuers are still checked: CA:TRUE and
 * keyCertSign, signature and validity at every level. */
static a11_err verify_chain(X509_STORE *store, X509 *leaf, struct window *w)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	a11_err r = A11_ERR_NOMEM;
	int err;

	if (ctx == NULL)
		goto out;
	r = A11_ERR_CRYPTO;
	if (X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1)
		goto out;
	r = A11_OK;
	if (X509_verify_cert(ctx) == 1) {
		w->known = chain_window(X509_STORE_CTX_get0_chain(ctx), w);
		goto out;
	}
	err = X509_STORE_CTX_get_error(ctx);
	log_warn("EK certificate rejected at depth %d: %s", X509_STORE_CTX_get_error_depth(ctx),
		 X509_verify_cert_error_string(err));
	r = A11_ERR_EKCERT;
out:
	X509_STORE_CTX_free(ctx);
	return r;
}

a11_err wire_ekcert_verify(const uint8_t *der, size_t len, const char *ca_path,
			   const TPMT_PUBLIC *ek)
{
	const unsigned char *p = der;
	X509_STORE *store = NULL;
	X509 *cert = NULL;
	uint8_t print[32], key[32];
	struct window w = { 0 };
	bool printed, keyed, as_printed;
	a11_err r = A11_ERR_ARG;

	if (der == NULL || ca_path == NULL)
		goto out;
	r = A11_ERR_PARSE;
	if (len == 0 || len > LONG_MAX)
		goto out;
	printed = ekcert_fingerprint(ca_path, print);
	keyed = printed && ek != NULL && ekverdict_key(der, len, print, ek, key);
	if (keyed && ekverdict_find(key, time(NULL)))
		return A11_OK;
	/* d2i takes a long; the whole buffer must be one certificate. */
	if ((cert = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len)
		goto out;
	if ((r = store_for(ca_path, print, printed, &store, &as_printed)) != A11_OK ||
	    (r = verify_chain(store, cert, &w)) != A11_OK)
		goto out;
	if (ek != NULL)
		r = wire_cert_has_key(cert, ek) ? A11_OK : A11_ERR_EKCERT_KEY;
	if (r == A11_OK && keyed && as_printed && w.known)
		ekverdict_put(key, w.not_before, w.not_after);
out:
	ERR_clear_error();
	X509_STORE_free(store);
	X509_free(cert);
	return r;
}
