/* An attest11-net.so of another ABI (tests/integ/netload.sh): the module
 * must refuse it. Were it used, its client_open would say the broker is
 * down, not CKR_DEVICE_ERROR. */
#include "../../src/attester/net.h"

static a11_err down(const char *brokers, const char *ca_file, long connect_ms, long total_ms,
		    struct client **out)
{
	(void)brokers, (void)ca_file, (void)connect_ms, (void)total_ms;
	*out = NULL;
	return A11_ERR_NETWORK;
}

static const struct a11_net table = { .abi = NET_ABI + 1, .open = down };

const struct a11_net *a11_net_v2(enum a11_log_level level)
{
	(void)level;
	return &table;
}
