/* src/tpm/tpm.c's reading of the TPM's answer to a signature check
 * (tpm_verify_approval): only the TPM's "bad signature" codes are
 * A11_ERR_SIGNATURE; out of object memory (0x902) or a lost connection
 * keep their own meaning. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../src/tpm/internal.h"

static void test_bad_signature(void **state)
{
	(void)state;
	assert_int_equal(tpm_rc_verify(TSS2_RC_SUCCESS, "t"), A11_OK);
	/* Format-one codes, with and without a parameter number. */
	assert_int_equal(tpm_rc_verify(TPM2_RC_SIGNATURE, "t"), A11_ERR_SIGNATURE);
	assert_int_equal(tpm_rc_verify(TPM2_RC_SIGNATURE | TPM2_RC_P | TPM2_RC_2, "t"),
			 A11_ERR_SIGNATURE);
	assert_int_equal(tpm_rc_verify(TPM2_RC_SCHEME | TPM2_RC_P | TPM2_RC_2, "t"),
			 A11_ERR_SIGNATURE);
}

static void test_other_answers_keep_their_meaning(void **state)
{
	(void)state;
	assert_int_equal(tpm_rc_verify(TPM2_RC_OBJECT_MEMORY, "t"), A11_ERR_TPM); /* 0x902 */
	assert_int_equal(tpm_rc_verify(TPM2_RC_OBJECT_MEMORY, "t"), tpm_rc(0x902, "t"));
	assert_int_equal(tpm_rc_verify(TPM2_RC_HANDLE | TPM2_RC_H | TPM2_RC_1, "t"),
			 A11_ERR_TPM_NOT_FOUND);
	assert_int_equal(tpm_rc_verify(TSS2_TCTI_RC_IO_ERROR, "t"), A11_ERR_TPM_COMM);
	assert_int_equal(tpm_rc_verify(TPM2_RC_FAILURE, "t"), A11_ERR_TPM);
	/* A signature code from another layer (Esys itself) is not the TPM's verdict. */
	assert_int_equal(tpm_rc_verify(TSS2_ESYS_RC_BAD_VALUE, "t"), A11_ERR_TPM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_other_answers_keep_their_meaning),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
