/* Credential policies (src/broker/policy.c): what a valid policy parses
 * to (defaults, PCR selection bits, reference values in selection order,
 * EK allow-list), and a refusal for each bad member. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "../../src/broker/policy.h"

#define EK_CA "\"ek_ca\":\"/etc/attest11/ekca\""
#define SEL0 "\"pcr_selection\":{\"sha256\":[0]}"

static struct policy *ok(const char *json)
{
	struct policy *p = NULL;

	if (policy_parse(json, strlen(json), &p) != A11_OK)
		fail_msg("refused: %s", json);
	assert_non_null(p);
	return p;
}

static void bad(const char *json)
{
	struct policy *p = (struct policy *)&p; /* must be reset to NULL */

	if (policy_parse(json, strlen(json), &p) != A11_ERR_PARSE)
		fail_msg("accepted: %s", json);
	assert_null(p);
}

/* The minimal policy plus `member` (a "name":value text). malloc'd. */
static char *with(const char *member)
{
	size_t n = strlen(member) + 128;
	char *buf = malloc(n);

	assert_non_null(buf);
	assert_true(snprintf(buf, n, "{" EK_CA "," SEL0 ",%s}", member) < (int)n);
	return buf;
}

static void bad_with(const char *member)
{
	char *s = with(member);

	bad(s);
	free(s);
}

static struct policy *ok_with(const char *member)
{
	char *s = with(member);
	struct policy *p = ok(s);

	free(s);
	return p;
}

/* A 2*n hex string of byte b. */
static const char *hexof(uint8_t b, size_t n)
{
	static char buf[2 * 64 + 1];

	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++)
		snprintf(buf + 2 * i, 3, "%02x", b);
	buf[2 * n] = '\0';
	return buf;
}

static void test_minimal(void **state)
{
	struct policy *p;

	(void)state;
	p = ok("{" EK_CA "," SEL0 "}");
	assert_string_equal(p->ek_ca, "/etc/attest11/ekca");
	assert_int_equal(p->ek_allow_count, 0);
	assert_int_equal(p->pcr_selection.count, 1);
	assert_int_equal(p->pcr_selection.pcrSelections[0].hash, TPM2_ALG_SHA256);
	assert_int_equal(p->pcr_selection.pcrSelections[0].sizeofSelect, 3);
	assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[0], 0x01);
	assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[1], 0);
	assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[2], 0);
	assert_int_equal(p->ref_count, 0);
	assert_false(p->bind_pcrs);
	/* Defaults. */
	assert_int_equal(p->lease_ttl, 3600);
	assert_int_equal(p->pin_max_failures, 5);
	assert_int_equal(p->pin_iterations, 10000);
	assert_string_equal(p->workload_id, "");
	policy_free(p);
	policy_free(NULL);
}

static void test_every_member(void **state)
{
	char json[2048];
	struct policy *p;

	(void)state;
	snprintf(json, sizeof(json),
		 "{\"ek_ca\":\"/ca.pem\",\"workload_id\":\"spiffe://example.org/web\","
		 "\"pcr_selection\":{\"sha1\":[23,0],\"sha256\":[0,1,7,8,15,16,23]},"
		 "\"pcr_reference\":[{\"sha1\":{\"0\":\"%s\",", hexof(0x10, 20));
	snprintf(json + strlen(json), sizeof(json) - strlen(json), "\"23\":\"%s\"},",
		 hexof(0x11, 20));
	strcat(json, "\"sha256\":{");
	for (int i = 0, pcrs[] = { 0, 1, 7, 8, 15, 16, 23 }; i < 7; i++)
		snprintf(json + strlen(json), sizeof(json) - strlen(json), "%s\"%d\":\"%s\"",
			 i ? "," : "", pcrs[i], hexof((uint8_t)(0x20 + pcrs[i]), 32));
	snprintf(json + strlen(json), sizeof(json) - strlen(json),
		 "}}],\"ek_allow\":[\"%s\"],", hexof(0xab, 32));
	strcat(json, "\"bind_pcrs\":true,\"lease_ttl\":86400,\"pin_max_failures\":3,"
		     "\"pin_iterations\":200000}");
	p = ok(json);
	assert_string_equal(p->ek_ca, "/ca.pem");
	assert_string_equal(p->workload_id, "spiffe://example.org/web");
	assert_true(p->bind_pcrs);
	assert_int_equal(p->lease_ttl, 86400);
	assert_int_equal(p->pin_max_failures, 3);
	assert_int_equal(p->pin_iterations, 200000);
	/* Banks in the order given; PCR n is bit n%8 of byte n/8. */
	assert_int_equal(p->pcr_selection.count, 2);
	assert_int_equal(p->pcr_selection.pcrSelections[0].hash, TPM2_ALG_SHA1);
	assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[0], 0x01);
	assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[1], 0x00);
	assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[2], 0x80);
	assert_int_equal(p->pcr_selection.pcrSelections[1].hash, TPM2_ALG_SHA256);
	assert_int_equal(p->pcr_selection.pcrSelections[1].pcrSelect[0], 0x83);
	assert_int_equal(p->pcr_selection.pcrSelections[1].pcrSelect[1], 0x81);
	assert_int_equal(p->pcr_selection.pcrSelections[1].pcrSelect[2], 0x81);
	/* References in selection order: sha1 0, 23, then sha256 ascending. */
	assert_int_equal(p->ref_count, 1);
	assert_int_equal(p->refs[0].count, 9);
	assert_int_equal(p->refs[0].v[0].size, 20);
	assert_int_equal(p->refs[0].v[0].buffer[0], 0x10);
	assert_int_equal(p->refs[0].v[1].buffer[19], 0x11);
	for (int i = 0, pcrs[] = { 0, 1, 7, 8, 15, 16, 23 }; i < 7; i++) {
		assert_int_equal(p->refs[0].v[2 + i].size, 32);
		assert_int_equal(p->refs[0].v[2 + i].buffer[0], 0x20 + pcrs[i]);
		assert_int_equal(p->refs[0].v[2 + i].buffer[31], 0x20 + pcrs[i]);
	}
	assert_int_equal(p->ek_allow_count, 1);
	for (int i = 0; i < 32; i++)
		assert_int_equal(p->ek_allow[0][i], 0xab);
	policy_free(p);
}

static void test_selection_banks(void **state)
{
	static const struct { const char *name; TPMI_ALG_HASH alg; } banks[] = {
		{ "sha1", TPM2_ALG_SHA1 }, { "sha256", TPM2_ALG_SHA256 },
		{ "sha384", TPM2_ALG_SHA384 }, { "sha512", TPM2_ALG_SHA512 },
	};
	struct policy *p;
	char json[256];

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		snprintf(json, sizeof(json), "{" EK_CA ",\"pcr_selection\":{\"%s\":[4,4,12,20]}}",
			 banks[i].name);
		p = ok(json);
		assert_int_equal(p->pcr_selection.count, 1);
		assert_int_equal(p->pcr_selection.pcrSelections[0].hash, banks[i].alg);
		assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[0], 0x10);
		assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[1], 0x10);
		assert_int_equal(p->pcr_selection.pcrSelections[0].pcrSelect[2], 0x10);
		policy_free(p);
	}
	/* All four banks, in the order written. */
	p = ok("{" EK_CA ",\"pcr_selection\":{\"sha512\":[1],\"sha1\":[2],\"sha384\":[3],"
	       "\"sha256\":[4]}}");
	assert_int_equal(p->pcr_selection.count, 4);
	assert_int_equal(p->pcr_selection.pcrSelections[0].hash, TPM2_ALG_SHA512);
	assert_int_equal(p->pcr_selection.pcrSelections[1].hash, TPM2_ALG_SHA1);
	assert_int_equal(p->pcr_selection.pcrSelections[2].hash, TPM2_ALG_SHA384);
	assert_int_equal(p->pcr_selection.pcrSelections[3].hash, TPM2_ALG_SHA256);
	assert_int_equal(p->pcr_selection.pcrSelections[3].pcrSelect[0], 0x10);
	policy_free(p);
}

/* The JSON lists PCRs (and banks) in another order than the selection:
 * values still come out banks-in-selection-order, PCRs ascending. */
static void test_reference_order(void **state)
{
	char json[1024];
	struct policy *p;

	(void)state;
	snprintf(json, sizeof(json),
		 "{" EK_CA ",\"pcr_selection\":{\"sha256\":[7,0,14],\"sha1\":[3]},"
		 "\"pcr_reference\":[{\"sha1\":{\"3\":\"%s\"},", hexof(0x03, 20));
	snprintf(json + strlen(json), sizeof(json) - strlen(json),
		 "\"sha256\":{\"14\":\"%s\",", hexof(0xee, 32));
	snprintf(json + strlen(json), sizeof(json) - strlen(json), "\"7\":\"%s\",",
		 hexof(0x77, 32));
	snprintf(json + strlen(json), sizeof(json) - strlen(json), "\"0\":\"%s\"}},{\"sha1\":{",
		 hexof(0x00, 32));
	snprintf(json + strlen(json), sizeof(json) - strlen(json), "\"3\":\"%s\"},\"sha256\":{",
		 hexof(0x13, 20));
	snprintf(json + strlen(json), sizeof(json) - strlen(json), "\"0\":\"%s\",",
		 hexof(0x40, 32));
	snprintf(json + strlen(json), sizeof(json) - strlen(json), "\"7\":\"%s\",",
		 hexof(0x47, 32));
	snprintf(json + strlen(json), sizeof(json) - strlen(json), "\"14\":\"%s\","
		 "\"9\":\"ignored, not selected\"},\"sha384\":{}}]}", hexof(0x4e, 32));
	p = ok(json);
	assert_int_equal(p->ref_count, 2);
	assert_int_equal(p->refs[0].count, 4);
	assert_int_equal(p->refs[0].v[0].size, 32);
	assert_int_equal(p->refs[0].v[0].buffer[0], 0x00); /* sha256 PCR 0 */
	assert_int_equal(p->refs[0].v[1].buffer[0], 0x77); /* sha256 PCR 7 */
	assert_int_equal(p->refs[0].v[2].buffer[0], 0xee); /* sha256 PCR 14 */
	assert_int_equal(p->refs[0].v[3].size, 20);
	assert_int_equal(p->refs[0].v[3].buffer[0], 0x03); /* sha1 PCR 3 */
	assert_int_equal(p->refs[1].count, 4);
	assert_int_equal(p->refs[1].v[0].buffer[0], 0x40);
	assert_int_equal(p->refs[1].v[1].buffer[0], 0x47);
	assert_int_equal(p->refs[1].v[2].buffer[0], 0x4e);
	assert_int_equal(p->refs[1].v[3].buffer[0], 0x13);
	policy_free(p);
	/* Upper-case hex is hex. */
	snprintf(json, sizeof(json), "\"pcr_reference\":[{\"sha256\":{\"0\":\"%s\"}}]",
		 "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff");
	p = ok_with(json);
	assert_int_equal(p->refs[0].v[0].buffer[10], 0xaa);
	policy_free(p);
}

static void test_ek_allow(void **state)
{
	json_t *a = json_array();
	char *s, json[256];
	struct policy *p;

	(void)state;
	for (int i = 0; i < POLICY_MAX_EK_ALLOW; i++)
		json_array_append_new(a, json_string(hexof((uint8_t)i, 32)));
	s = json_dumps(a, JSON_COMPACT);
	assert_non_null(s);
	{
		char *buf = malloc(strlen(s) + 64);

		assert_non_null(buf);
		sprintf(buf, "\"ek_allow\":%s", s);
		p = ok_with(buf);
		assert_int_equal(p->ek_allow_count, POLICY_MAX_EK_ALLOW);
		assert_int_equal(p->ek_allow[255][31], 255);
		assert_int_equal(p->ek_allow[17][0], 17);
		policy_free(p);
		free(s);
		json_array_append_new(a, json_string(hexof(0xff, 32)));
		s = json_dumps(a, JSON_COMPACT);
		assert_non_null(s);
		buf = realloc(buf, strlen(s) + 128);
		assert_non_null(buf);
		sprintf(buf, "{" EK_CA "," SEL0 ",\"ek_allow\":%s}", s);
		bad(buf);
		free(buf);
	}
	free(s);
	json_decref(a);
	bad_with("\"ek_allow\":\"abcd\"");
	bad_with("\"ek_allow\":[1]");
	snprintf(json, sizeof(json), "\"ek_allow\":[\"%s\"]", hexof(0xab, 31));
	bad_with(json);
	snprintf(json, sizeof(json), "\"ek_allow\":[\"%s0\"]", hexof(0xab, 32));
	bad_with(json);
	snprintf(json, sizeof(json), "\"ek_allow\":[\"%s\"]", hexof(0xab, 32));
	json[13] = 'g';
	bad_with(json);
}

static void test_bad_selection(void **state)
{
	(void)state;
	bad("{" EK_CA "}");
	bad("{" EK_CA ",\"pcr_selection\":{}}");
	bad("{" EK_CA ",\"pcr_selection\":[0,7]}");
	bad("{" EK_CA ",\"pcr_selection\":\"sha256:0,7\"}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":[]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":7}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":[24]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":[-1]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":[0,4294967296]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":[\"7\"]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":[7.0]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":[null]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sm3_256\":[0]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"SHA256\":[0]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"md5\":[0]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":[0],\"sha1\":[0],\"sha384\":[0],"
	    "\"sha512\":[0],\"sha3_256\":[0]}}");
	bad("{" EK_CA ",\"pcr_selection\":{\"sha256\":[0],\"sha256\":[1]}}");
}

static void test_bad_reference(void **state)
{
	char json[4096];

	(void)state;
	bad_with("\"pcr_reference\":{}");
	bad_with("\"pcr_reference\":[[]]");
	bad_with("\"pcr_reference\":[\"00\"]");
	bad_with("\"pcr_reference\":[{}]");                  /* missing PCR 0 */
	bad_with("\"pcr_reference\":[{\"sha256\":{}}]");
	bad_with("\"pcr_reference\":[{\"sha256\":[\"00\"]}]");
	snprintf(json, sizeof(json), "\"pcr_reference\":[{\"sha1\":{\"0\":\"%s\"}}]",
		 hexof(1, 20));                                  /* other bank */
	bad_with(json);
	snprintf(json, sizeof(json), "\"pcr_reference\":[{\"sha256\":{\"1\":\"%s\"}}]",
		 hexof(1, 32));                                  /* other PCR */
	bad_with(json);
	snprintf(json, sizeof(json), "\"pcr_reference\":[{\"sha256\":{\"00\":\"%s\"}}]",
		 hexof(1, 32));
	bad_with(json);
	snprintf(json, sizeof(json), "\"pcr_reference\":[{\"sha256\":{\"0\":\"%s\"}}]",
		 hexof(1, 20));                                  /* sha1 size in sha256 */
	bad_with(json);
	snprintf(json, sizeof(json), "\"pcr_reference\":[{\"sha256\":{\"0\":\"%s\"}}]",
		 hexof(1, 33));
	bad_with(json);
	snprintf(json, sizeof(json), "\"pcr_reference\":[{\"sha256\":{\"0\":\"%s0\"}}]",
		 hexof(1, 31));                                  /* odd length */
	bad_with(json);
	snprintf(json, sizeof(json), "\"pcr_reference\":[{\"sha256\":{\"0\":\"%s\"}}]",
		 "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	bad_with(json);
	bad_with("\"pcr_reference\":[{\"sha256\":{\"0\":32}}]");
	/* One good set, then a bad one: the whole policy is refused. */
	snprintf(json, sizeof(json),
		 "\"pcr_reference\":[{\"sha256\":{\"0\":\"%s\"}},{\"sha256\":{}}]", hexof(1, 32));
	bad_with(json);
}

/* Hex digits only: no sign, space or 0x prefix that sscanf("%2x") takes. */
static void test_reference_strict_hex(void **state)
{
	static const char *const digits[] = { "+f", "-1", " f", "0x", "f ", "+0" };
	char json[256], hex[65];

	(void)state;
	for (size_t i = 0; i < sizeof(digits) / sizeof(digits[0]); i++) {
		memcpy(hex, hexof(0xaa, 32), sizeof(hex));
		memcpy(hex + 30, digits[i], 2);
		snprintf(json, sizeof(json), "\"pcr_reference\":[{\"sha256\":{\"0\":\"%s\"}}]",
			 hex);
		bad_with(json);
		snprintf(json, sizeof(json), "\"ek_allow\":[\"%s\"]", hex);
		bad_with(json);
	}
}

static void test_reference_count(void **state)
{
	char *json = malloc(64 * 1024), *p;
	struct policy *pol;

	(void)state;
	assert_non_null(json);
	for (int n = POLICY_MAX_REFS; n <= POLICY_MAX_REFS + 1; n++) {
		p = json + sprintf(json, "{" EK_CA "," SEL0 ",\"pcr_reference\":[");
		for (int i = 0; i < n; i++)
			p += sprintf(p, "%s{\"sha256\":{\"0\":\"%s\"}}", i ? "," : "",
				     hexof((uint8_t)i, 32));
		strcpy(p, "]}");
		if (n == POLICY_MAX_REFS) {
			pol = ok(json);
			assert_int_equal(pol->ref_count, POLICY_MAX_REFS);
			assert_int_equal(pol->refs[31].v[0].buffer[0], 31);
			policy_free(pol);
		} else {
			bad(json);
		}
	}
	free(json);
}

static void test_bad_members(void **state)
{
	char path[PATH_MAX + 64];
	struct policy *p;

	(void)state;
	/* Not JSON, not an object, duplicate keys. */
	bad("");
	bad("{");
	bad("[]");
	bad("[{" EK_CA "," SEL0 "}]");
	bad("42");
	bad("null");
	bad("{" EK_CA "," SEL0 "," EK_CA "}");
	bad("{" EK_CA "," SEL0 ",\"lease_ttl\":60,\"lease_ttl\":60}");
	/* ek_ca: required non-empty string. */
	bad("{" SEL0 "}");
	bad("{\"ek_ca\":\"\"," SEL0 "}");
	bad("{\"ek_ca\":7," SEL0 "}");
	bad("{\"ek_ca\":[\"/ca\"]," SEL0 "}");
	memset(path, 'a', sizeof(path));
	memcpy(path, "{\"ek_ca\":\"", 10);
	strcpy(path + 10 + PATH_MAX, "\"," SEL0 "}");
	bad(path);
	/* lease_ttl: 5 s .. 366 days. */
	bad_with("\"lease_ttl\":4");
	bad_with("\"lease_ttl\":0");
	bad_with("\"lease_ttl\":-3600");
	bad_with("\"lease_ttl\":31622401");
	bad_with("\"lease_ttl\":\"3600\"");
	bad_with("\"lease_ttl\":3600.5");
	p = ok_with("\"lease_ttl\":5");
	assert_int_equal(p->lease_ttl, 5);
	policy_free(p);
	p = ok_with("\"lease_ttl\":31622400");
	assert_int_equal(p->lease_ttl, 31622400);
	policy_free(p);
	/* pin_max_failures 1..1000, pin_iterations 1000..10^7. */
	bad_with("\"pin_max_failures\":0");
	bad_with("\"pin_max_failures\":1001");
	bad_with("\"pin_max_failures\":true");
	bad_with("\"pin_iterations\":999");
	bad_with("\"pin_iterations\":10000001");
	bad_with("\"pin_iterations\":4294977296");
	p = ok_with("\"pin_max_failures\":1,\"pin_iterations\":1000");
	assert_int_equal(p->pin_max_failures, 1);
	assert_int_equal(p->pin_iterations, 1000);
	policy_free(p);
	/* bind_pcrs: a boolean. */
	bad_with("\"bind_pcrs\":1");
	bad_with("\"bind_pcrs\":\"true\"");
	bad_with("\"bind_pcrs\":null");
	p = ok_with("\"bind_pcrs\":false");
	assert_false(p->bind_pcrs);
	policy_free(p);
	/* workload_id: a non-empty string below 256 bytes. */
	bad_with("\"workload_id\":\"\"");
	bad_with("\"workload_id\":1");
	memset(path, 'w', 300);
	memcpy(path, "\"workload_id\":\"", 15);
	strcpy(path + 15 + 256, "\"");
	bad_with(path);
	strcpy(path + 15 + 255, "\"");
	p = ok_with(path);
	assert_int_equal(strlen(p->workload_id), 255);
	policy_free(p);
	/* Unknown members are refused: a misspelt one would pass as its
	 * default (here: keys not bound to the PCRs). */
	bad_with("\"bind_pcr\":true");
	bad_with("\"comment\":\"lab TPMs\"");
	bad_with("\"pin_scrypt_log2n\":15");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_every_member),
		cmocka_unit_test(test_selection_banks),
		cmocka_unit_test(test_reference_order),
		cmocka_unit_test(test_ek_allow),
		cmocka_unit_test(test_bad_selection),
		cmocka_unit_test(test_bad_reference),
		cmocka_unit_test(test_reference_strict_hex),
		cmocka_unit_test(test_reference_count),
		cmocka_unit_test(test_bad_members),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
