/* Which failed exchanges drop the TPM's identity (EK certificate, EK,
 * AK) that a connection keeps (src/attester/attester.c,
 * attester_identity_suspect): only what implicates it — a TPM error, or a
 * refusal of the EK, the AK, the quote or the parent. A broker out of
 * reach, a refused PIN or a busy broker keep it, so the next login costs
 * no new AK. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../src/attester/attester.h"
#include "../../src/proto/refusal.h"

static void test_network_keeps_identity(void **state)
{
	static const a11_err kept[] = { A11_ERR_NETWORK, A11_ERR_TLS, A11_ERR_PROTOCOL,
					A11_ERR_IO, A11_ERR_NOMEM };

	(void)state;
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		assert_false(attester_identity_suspect(kept[i], ""));
}

static void test_refusals(void **state)
{
	static const char *const kept[] = { "pin_incorrect", "pin_locked", "busy", "store_busy",
					    "nonce_expired", "nonce_reused", "lease_revoked",
					    "unknown_credential", "pcr_values", "internal",
					    "no_such_code" };
	static const char *const dropped[] = { "ekcert_untrusted", "ek_not_allowed",
					       "ak_invalid", "ak_not_activated", "quote_invalid",
					       "tpm_reboot_replay", "parent_invalid" };

	(void)state;
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		assert_false(attester_identity_suspect(A11_ERR_REFUSED, kept[i]));
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
		assert_int_not_equal(refusal_parse(dropped[i]), REF__COUNT); /* a real code */
		assert_true(attester_identity_suspect(A11_ERR_REFUSED, dropped[i]));
	}
}

static void test_tpm_errors_drop_identity(void **state)
{
	static const a11_err dropped[] = { A11_ERR_TPM, A11_ERR_TPM_COMM, A11_ERR_TPM_NOT_FOUND,
					   A11_ERR_TPM_INTEGRITY, A11_ERR_TPM_POLICY };

	(void)state;
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		assert_true(attester_identity_suspect(dropped[i], ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network_keeps_identity),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_tpm_errors_drop_identity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
