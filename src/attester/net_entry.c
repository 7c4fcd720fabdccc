/* The one export of attest11-net.so (net.h): client.c's functions as a
 * table. Built into that object only, never into libattester.a. */
#include "net.h"

static const struct a11_net table = {
	.abi = NET_ABI,
	.open = client_open,
	.close = client_close,
	.fits = client_fits,
	.post = client_post,
};

const struct a11_net *a11_net_v2(enum a11_log_level level)
{
	a11_log_set_level(level);
	return &table;
}
