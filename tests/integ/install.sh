#!/usr/bin/env bash
# make install into a DESTDIR: every file where the README and
# docs/operations.md say, the module exporting only the PKCS#11 getters.
. "$(dirname "$0")/../lib.sh"
R=$(mktemp -d "${TMPDIR:-/tmp}/attest11-install.XXXXXX")
RIG_DIR=$R # where the ok helper keeps command output
trap 'rm -rf "$R"' EXIT
ok "make install DESTDIR=..." make -s install DESTDIR="$R" PREFIX=/usr O="$O"
MA=$(gcc -print-multiarch)
for f in usr/lib/$MA/pkcs11/attest11.so usr/lib/$MA/pkcs11/attest11-net.so usr/share/p11-kit/modules/attest11.module \
	usr/bin/attest11 usr/sbin/attest11-broker usr/share/man/man1/attest11.1 \
	usr/bin/attest11-load usr/share/man/man1/attest11-load.1 \
	usr/share/man/man5/attest11.conf.5 usr/share/man/man8/attest11-broker.8 \
	usr/share/doc/attest11/examples/attest11.conf; do
	ok "installs /$f" test -s "$R/$f"
done
ok "the p11-kit module file names attest11.so" grep -qx 'module: attest11.so' \
	"$R/usr/share/p11-kit/modules/attest11.module"
ok "attest11.so exports exactly the three PKCS#11 getters" bash -c \
	"[ \"\$(nm -D --defined-only $R/usr/lib/$MA/pkcs11/attest11.so | awk '\$2 == \"T\" {print \$3}' | sort | tr '\n' ' ')\" = 'C_GetFunctionList C_GetInterface C_GetInterfaceList ' ]"
ok "attest11-net.so, beside it, exports only its entry" bash -c \
	"[ \"\$(nm -D --defined-only $R/usr/lib/$MA/pkcs11/attest11-net.so | awk '\$2 == \"T\" {print \$3}')\" = a11_net_v2 ]"
ok "man pages render without warnings" bash -c \
	"for m in $R/usr/share/man/man*/*; do man --warnings -l \$m >/dev/null 2>\$m.err; [ ! -s \$m.err ] || { cat \$m.err; exit 1; }; done"
