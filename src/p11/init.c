/* C_Initialize, C_Finalize, C_GetInfo (fork(): src/p11/fork.c).
 * C_Initialize reads the configuration and nothing else: no TPM, no
 * network, so processes that load every p11-kit module stay fast. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "../common/version.h"
#include "config.h"
#include "fork.h"
#include "init.h"
#include "locks.h"
#include "object.h"
#include "renew.h"
#include "session.h"
#include "token_lease.h"
#include "token_login.h"

struct p11_global mod;

bool p11_ready(void)
{
	return mod.initialized && !mod.forked;
}

/* *reserved: pReserved as a string, or NULL. */
static CK_RV check_args(const CK_C_INITIALIZE_ARGS *a, char buf[P11_RESERVED_MAX],
			const char **reserved)
{
	int n;

	*reserved = NULL;
	if (a == NULL)
		return CKR_OK;
	/* All four callbacks or none (PKCS#11 §5.4). */
	n = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) +
	    (a->UnlockMutex != NULL);
	if (n != 0 && n != 4)
		return CKR_ARGUMENTS_BAD;
	/* PKCS#11 wants NULL; p11-kit's x-init-reserved option puts
	 * "conf=PATH" there. Checked even when $ATTEST11_CONF wins. */
	if (a->pReserved == NULL)
		return CKR_OK;
	*reserved = buf;
	return config_reserved(a->pReserved, buf, P11_RESERVED_MAX);
}

/* State a forked child inherited: release memory, never the TPM objects
 * (they belong to the parent's connection). */
static void drop_state(void)
{
	sessions_drop_all();
	for (size_t i = 0; i < mod.n_tokens; i++) {
		struct p11_token *t = &mod.tokens[i];

		lock_mod(); /* forgotten: a no-op, but object_detach_inlock checks */
		object_detach_inlock(t);
		unlock_mod();
		release_clear(&t->cred.rel);
		if (t->cred.token != NULL)
			OPENSSL_cleanse(t->cred.token, t->cred.token_len);
		free(t->cred.token);
		OPENSSL_cleanse(&t->cred, sizeof(t->cred));
	}
	memset(&mod, 0, sizeof(mod));
}

static CK_RV init_tokens(void)
{
	mod.n_tokens = mod.conf.n_tokens;
	for (size_t i = 0; i < mod.n_tokens; i++) {
		struct p11_token *t = &mod.tokens[i];

		t->slot = (CK_SLOT_ID)i;
		t->conf = &mod.conf.tokens[i];
		t->cred.key.tr = t->cred.parent.tr = ESYS_TR_NONE;
		t->cred.key.session = t->cred.parent.session = ESYS_TR_NONE;
		p11_mutex_init(&t->renew_lock);
		p11_mutex_init(&t->tpm_lock);
		if (t->tpm_lock.m == NULL || t->renew_lock.m == NULL)
			return CKR_CANT_LOCK;
	}
	for (size_t i = 0; i < mod.n_tokens; i++)
		lease_show_public(&mod.tokens[i]);
	return CKR_OK;
}

CK_RV p11_initialize(CK_VOID_PTR args)
{
	const CK_C_INITIALIZE_ARGS *a = args;
	char buf[P11_RESERVED_MAX];
	const char *reserved;
	CK_RV rv;

	if ((rv = check_args(a, buf, &reserved)) != CKR_OK)
		return rv;
	if (mod.initialized && !mod.forked)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	fork_watch();
	if (mod.forked)
		drop_state();
	p11_mutex_use(a);
	if ((rv = config_load(config_path(reserved), &mod.conf)) != CKR_OK)
		return rv;
	p11_mutex_init(&mod.lock);
	mod.next_handle = 1;
	if (mod.lock.m == NULL || (rv = init_tokens()) != CKR_OK) {
		p11_mutex_destroy(&mod.lock);
		return CKR_CANT_LOCK;
	}
	mod.no_threads = a != NULL && (a->flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS);
	mod.initialized = true;
	log_debug("initialized with %zu tokens", mod.n_tokens);
	return CKR_OK;
}

CK_RV p11_finalize(CK_VOID_PTR reserved)
{
	if (reserved != NULL)
		return CKR_ARGUMENTS_BAD;
	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	renew_stop();
	sessions_close_all(NULL);
	sessions_drop_all(); /* what is left: the emptied table itself */
	for (size_t i = 0; i < mod.n_tokens; i++) {
		struct p11_token *t = &mod.tokens[i];

		if (t->logged_in)
			token_logout(t);
		tpm_close(t->tpm);
		attester_http_close(&t->http);
		lock_mod();
		object_detach_inlock(t);
		unlock_mod();
		release_clear(&t->cred.rel);
		p11_mutex_destroy(&t->renew_lock);
		p11_mutex_destroy(&t->tpm_lock);
	}
	p11_mutex_destroy(&mod.lock);
	memset(&mod, 0, sizeof(mod));
	return CKR_OK;
}

void p11_pad(CK_UTF8CHAR *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, len < n ? len : n);
}

CK_RV p11_get_info(CK_INFO_PTR info)
{
	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion = (CK_VERSION){ 2, 40 };
	p11_pad(info->manufacturerID, sizeof(info->manufacturerID), "attest11");
	p11_pad(info->libraryDescription, sizeof(info->libraryDescription),
		"attest11 TPM-attested credentials");
	info->libraryVersion = (CK_VERSION){ A11_VERSION_MAJOR, A11_VERSION_MINOR };
	return CKR_OK;
}
