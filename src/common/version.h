/* The one version of attest11. The binaries print it for --version, the
 * module reports it in CK_INFO, the EAR names it as the verifier's build;
 * the man pages' headers carry it too (tests/integ/cli.sh checks). */
#ifndef A11_VERSION_H
#define A11_VERSION_H

#define A11_VERSION_MAJOR 0
#define A11_VERSION_MINOR 1

#define A11_STR_(x) #x
#define A11_STR(x) A11_STR_(x)
#define A11_VERSION A11_STR(A11_VERSION_MAJOR) "." A11_STR(A11_VERSION_MINOR)

#endif
