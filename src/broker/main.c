/* attest11-broker: placeholder entry point until the CLI lands. */
#include <stdio.h>

int main(void)
{
	fputs("attest11-broker: not yet implemented\n", stderr);
	return 1;
}
