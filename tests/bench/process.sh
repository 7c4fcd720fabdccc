# shellcheck shell=bash
# make bench, BENCH_ONLY=process (sourced by tests/bench/bench.sh, whose
# rig, broker, credentials and $CONF_HOST it uses): what one whole process
# costs that loads a module, logs in and signs once — every `curl` or
# `openssl` run pays it. pkcs11-tool --login --sign (ECDSA P-256), RUNS
# interleaved runs per signer: attest11.so on a cached host lease, Debian's
# tpm2-pkcs11 on the same swtpm through the same tpm2-abrmd, SoftHSM (a
# software key: the floor of a module that does nothing). Then the phases
# of each run (tests/bench/start.c). BENCH_BEFORE=PATH: another build's
# attest11.so (e.g. an older commit's) as one more interleaved signer, on
# a host lease of its own (same credential, same TPM).
RUNS=${BENCH_RUNS:-15}
BEFORE=${BENCH_BEFORE:-}
PT=$RIG_DIR/process; mkdir -p "$PT"
head -c 32 /dev/urandom >"$PT/digest"
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", v[int((NR + 1) / 2)] }'; }

# tpm2-pkcs11: its own store, an ECC key it generated in the same TPM.
t2p() { TPM2_PKCS11_STORE=$PT/t2 TPM2_PKCS11_TCTI=$A11_TCTI TPM2_PKCS11_LOG_LEVEL=0 "$@"; }
mkdir -p "$PT/t2"
t2p pkcs11-tool --module "$T2" --init-token --slot-index 0 --label t2 --so-pin 5678 >/dev/null 2>&1 &&
	t2p pkcs11-tool --module "$T2" --token-label t2 --init-pin --so-pin 5678 --pin 1234 >/dev/null 2>&1 &&
	t2p pkcs11-tool --module "$T2" --token-label t2 --login --pin 1234 --keypairgen \
		--key-type EC:prime256v1 --label ec >/dev/null 2>&1 || echo "process: no tpm2-pkcs11 token"
# SoftHSM (softhsm2), if installed: a private token directory.
SH=/usr/lib/softhsm/libsofthsm2.so
shp() { SOFTHSM2_CONF=$PT/softhsm2.conf "$@"; }
if [ -f "$SH" ]; then
	mkdir -p "$PT/sh"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$PT/sh" \
		>"$PT/softhsm2.conf"
	shp pkcs11-tool --module "$SH" --init-token --slot-index 0 --label sh --so-pin 5678 >/dev/null 2>&1 &&
		shp pkcs11-tool --module "$SH" --token-label sh --init-pin --so-pin 5678 --pin 1234 >/dev/null 2>&1 &&
		shp pkcs11-tool --module "$SH" --token-label sh --login --pin 1234 --keypairgen \
			--key-type EC:prime256v1 --label ec >/dev/null 2>&1 || SH=
else
	SH=
fi
# attest11: one login leaves the host lease in the state dir. The other
# build gets a state dir of its own: its lease file's format may differ
# (a build that cannot read this one's would attest and rewrite it at
# every run, and this one then rewrite it back).
a11p() { ATTEST11_CONF=$CONF_HOST "$@"; }
a11p "$BIN/tests/bench/start" "$M" ec 1234 >/dev/null || echo "process: attest11 has no host lease"
a11b() { ATTEST11_CONF=$PT/before.conf "$@"; }
if [ -n "$BEFORE" ]; then
	MODULE_STATE_DIR=$PT/before-state module_conf "$PT/before.conf" "$A11_TCTI" "$TOKENS"
	a11b "$BIN/tests/bench/start" "$BEFORE" ec 1234 >/dev/null || echo "process: $BEFORE has no host lease"
fi

# whole NAME MODULE TOKEN WRAPPER: one pkcs11-tool run, its wall time (ms)
# appended to $PT/NAME; a failed run counts as none and says so.
whole() {
	local t0=$EPOCHREALTIME t1
	if "$4" pkcs11-tool --module "$2" --token-label "$3" --login --pin 1234 --sign \
		--mechanism ECDSA --input-file "$PT/digest" --output-file "$PT/sig" >/dev/null 2>&1; then
		t1=$EPOCHREALTIME
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) * 1e3 }' >>"$PT/$1"
	else
		echo "process: $1 failed to sign" >&2
	fi
}
rm -f "$PT/attest11" "$PT/before" "$PT/tpm2-pkcs11" "$PT/softhsm"
for _ in $(seq "$RUNS"); do
	whole attest11 "$M" ec a11p
	[ -n "$BEFORE" ] && whole before "$BEFORE" ec a11b
	whole tpm2-pkcs11 "$T2" t2 t2p
	[ -n "$SH" ] && whole softhsm "$SH" sh shp
done
printf '\nOne whole process: pkcs11-tool --login --sign, ECDSA P-256, median of %s interleaved runs\n' "$RUNS"
a=$(median <"$PT/attest11"); t=$(median <"$PT/tpm2-pkcs11"); s=
[ -n "$SH" ] && s=$(median <"$PT/softhsm")
printf '  attest11.so (cached host lease)  %7s ms\n' "${a:--}"
[ -n "$BEFORE" ] && printf '  %s  %7s ms   this/before = %s\n' "$BEFORE" \
	"$(median <"$PT/before")" "$(ratio "$a" "$(median <"$PT/before")")"
printf '  tpm2-pkcs11 (same TPM, abrmd)    %7s ms   attest11/tpm2-pkcs11 = %s\n' "${t:--}" "$(ratio "$a" "$t")"
printf '  SoftHSM (software key)           %7s ms   attest11/SoftHSM = %s\n' "${s:--}" "$(ratio "$a" "$s")"
# The phases, in a driver that links libc alone (tests/bench/start.c).
phases() { # phases NAME WRAPPER MODULE TOKEN
	local i
	for i in $(seq "$RUNS"); do "$2" "$BIN/tests/bench/start" "$3" "$4" 1234; done |
		sed -n 's/^RESULT //p' >"$PT/phases.$1"
	printf '  %-12s' "$1"
	for k in dlopen init login sign fini; do
		printf ' %s %5s' "$k" "$(sed -n "s/.*${k}_ms=\([0-9.]*\).*/\1/p" "$PT/phases.$1" | median)"
	done
	echo
}
printf 'phases (ms, median of %s): dlopen, C_Initialize, C_OpenSession+C_Login, find+C_Sign, C_Finalize\n' "$RUNS"
phases attest11 a11p "$M" ec
[ -n "$BEFORE" ] && phases before a11b "$BEFORE" ec
phases tpm2-pkcs11 t2p "$T2" t2
[ -n "$SH" ] && phases softhsm shp "$SH" sh
