/* Preloaded after the sanitizer runtimes into uninstrumented programs
 * that load the instrumented attest11.so under `make check SANITIZE=1`
 * (tests/lib.sh module_setup). A preloaded ASan initializes at its first
 * intercepted call; where libp11-kit is linked (p11tool, gnutls-cli, curl
 * through GnuTLS) that is the malloc() inside newlocale() in libp11-kit's
 * constructor, with glibc's __libc_setlocale_lock held for writing. ASan's
 * initialization calls dlerror(), whose gettext releases that lock, and
 * newlocale()'s own unlock then drops a reader nobody holds: freelocale()
 * in libp11-kit's destructor waits forever at exit. One malloc() before
 * newlocale() takes the lock initializes the runtime first. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <locale.h>
#include <stdlib.h>

locale_t newlocale(int mask, const char *name, locale_t base)
{
	static locale_t (*real)(int, const char *, locale_t);
	void *volatile p = malloc(1);

	free(p);
	if (real == NULL)
		real = (locale_t (*)(int, const char *, locale_t))dlsym(RTLD_NEXT, "newlocale");
	return real(mask, name, base);
}
