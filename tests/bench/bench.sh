#!/usr/bin/env bash
# make bench: one run, one swtpm, one TCTI (tpm2-abrmd) for every signer:
# a raw Esys_Sign loop with a password-authorized key (the TPM's own
# limit, the baseline of every ratio), the same loop with a key under the
# lease policy every released key carries, attest11.so, Debian's
# tpm2-pkcs11; what single TPM commands cost through that TCTI; and
# C_Login latency, a full attestation split into its steps; the broker's
# capacity under attest11-load (simulated hosts, no TPM).
# one whole pkcs11-tool process (log in on a cached host lease, sign once)
# beside tpm2-pkcs11 and SoftHSM (tests/bench/process.sh).
# BENCH_ONLY=login, capacity, process or replicas: those figures alone. The broker is broker_setup's
# (tests/lib.sh): the same settings as the tests.
. "$(dirname "$0")/../lib.sh"
SECS=${BENCH_SECONDS:-5}
LOGINS=${BENCH_LOGINS:-30}
ROUNDS=${BENCH_ROUNDS:-5}
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "bench: no TPM"; exit 1; }
# The TPM provisioned as docs/operations.md says: the ECC SRK persistent
# (the tests leave it out, so that the module creates it).
tpm2_createprimary -T "$A11_TCTI" -C o -g sha256 -G ecc256:aes128cfb -c "$RIG_DIR/srk.ctx" \
	-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt' >/dev/null &&
	tpm2_evictcontrol -T "$A11_TCTI" -C o -c "$RIG_DIR/srk.ctx" 0x81000002 >/dev/null ||
	{ echo "bench: cannot provision the SRK"; exit 1; }
broker_setup && broker_start || { echo "bench: no broker"; exit 1; }
D=$RIG_DIR/creds; mkdir -p "$D"
make_ca "$D" && make_repo_key "$D" ec ec && make_repo_key "$D" rsa rsa || exit 1
echo 1234 >"$D/pin"
write_policy "$D/policy"
broker credential add ec --kind repository --policy "$D/policy" --key "$D/ec.key" --chain "$D/ec.chain" --pin-file "$D/pin" >/dev/null &&
broker credential add rsa --kind repository --policy "$D/policy" --key "$D/rsa.key" --chain "$D/rsa.chain" --pin-file "$D/pin" >/dev/null || exit 1
TOKENS='[{"label": "ec", "credential": "ec", "key_type": "ec"}, {"label": "rsa", "credential": "rsa", "key_type": "rsa"}]'
module_setup "$TOKENS"
unset OPENSSL_CONF
# The tests reach tpm2-abrmd through a tpm2_send process (tests/lib.sh,
# for nginx's fork); the bench gives the module the raw loops' TCTI, so
# that every figure pays the same price per TPM command. The module
# shares no lease through a state dir here: every C_Login attests.
CONF_HOST=$RIG_DIR/attest11-host.conf
MODULE_STATE_DIR= module_conf "$ATTEST11_CONF" "$A11_TCTI" "$TOKENS"
MODULE_STATE_DIR=$RIG_DIR/state module_conf "$CONF_HOST" "$A11_TCTI" "$TOKENS"
B=$BIN/tests/bench/bench
M=$BIN/attest11.so
T2=/usr/lib/$(gcc -print-multiarch)/pkcs11/libtpm2_pkcs11.so
result() { sed -n "s/^RESULT .*$1=\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v r="$2" 'BEGIN { if (r > 0 && a != "") printf "%.2f", a / r; else print "-" }'; }

if [ -z "${BENCH_ONLY:-}" ]; then
# tpm2-pkcs11 with its own store, keys generated in the same TPM.
export TPM2_PKCS11_STORE=$RIG_DIR/tpm2-pkcs11 TPM2_PKCS11_TCTI=$A11_TCTI TPM2_PKCS11_LOG_LEVEL=0
mkdir -p "$TPM2_PKCS11_STORE"
t2() { pkcs11-tool --module "$T2" "$@" >/dev/null 2>&1; }
t2 --init-token --slot-index 0 --label t2 --so-pin 5678 && t2 --token-label t2 --init-pin --so-pin 5678 --pin 1234 &&
t2 --token-label t2 --login --pin 1234 --keypairgen --key-type EC:prime256v1 --label ec &&
	t2_ec=1 || t2_ec=
t2 --init-token --slot-index 1 --label t2rsa --so-pin 5678 && t2 --token-label t2rsa --init-pin --so-pin 5678 --pin 1234 &&
t2 --token-label t2rsa --login --pin 1234 --keypairgen --key-type rsa:2048 --label rsa &&
	t2_rsa=1 || t2_rsa=

printf '\nSignatures per second, %ss each, swtpm via tpm2-abrmd, one TCTI for all (%s)\n' "$SECS" "$(nproc) cores"
printf '  (a) raw: Esys_Sign loop, password auth   (b) lease: the same loop, lease policy session\n'
printf '  (c) attest11.so C_Sign (lease policy)     ratios to (a)\n'
printf '%-22s %9s %9s %6s %11s %6s %14s %6s\n' signer "(a)/s" "(b)/s" ratio "(c)/s" ratio tpm2-pkcs11/s ratio
row() { # row NAME ALG SCHEME MECH TOKEN T2TOKEN
	local raw l a t
	raw=$($B raw "$A11_TCTI" "$2" "$3" "$SECS" | result ops_per_s)
	l=$($B lease "$A11_TCTI" "$2" "$3" "$SECS" | result ops_per_s)
	a=$($B p11 "$M" "$5" 1234 "$4" "$SECS" 2>/dev/null | result ops_per_s)
	t=; [ -n "$6" ] && t=$($B p11 "$T2" "$6" 1234 "$4" "$SECS" 2>/dev/null | result ops_per_s)
	printf '%-22s %9s %9s %6s %11s %6s %14s %6s\n' "$1" "${raw:--}" "${l:--}" "$(ratio "$l" "$raw")" \
		"${a:--}" "$(ratio "$a" "$raw")" "${t:--}" "$(ratio "$t" "$raw")"
}
row "ECDSA P-256" ecc ecdsa ecdsa ec "${t2_ec:+t2}"
row "RSA-2048 PKCS#1 v1.5" rsa rsassa rsa-pkcs rsa "${t2_rsa:+t2rsa}"
row "RSA-2048 PSS" rsa rsapss rsa-pss rsa "${t2_rsa:+t2rsa}"
l=$($B lease "$A11_TCTI" ecc ecdsa "$SECS" pcr | result ops_per_s)
printf '%-22s %9s %9s   (lease with PolicyPCR over sha256:0-7)\n' "ECDSA P-256 + PCRs" - "${l:--}"
printf 'one TPM command through this TCTI, mean of 500 (us): %s\n' \
	"$($B cmds "$A11_TCTI" 500 | sed -n 's/^RESULT //; s/_us=/ /g; s/ n=[0-9]*$//p')"

fi

# The machine's noise moves a single run's p50 by a quarter: the figure is
# the median of ROUNDS rounds' p50s, each round printed.
if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = login ]; then
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", v[int((NR + 1) / 2)] }'; }
login_rounds() { # login_rounds LABEL: ROUNDS rounds of LOGINS C_Logins
	local r out p50s=
	for r in $(seq "$ROUNDS"); do
		out=$($B login "$M" ec 1234 "$LOGINS" | sed -n 's/^RESULT //p')
		p50s="$p50s $(echo "$out" | sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p')"
		echo "$out" >>"$RIG_DIR/rounds.$1"
	done
	printf 'attest11.so C_Login, %s: p50_ms=%s (median of round p50s:%s) p95_ms=%s\n' "$1" \
		"$(echo "$p50s" | tr ' ' '\n' | median)" "$p50s" \
		"$(sed -n 's/.*p95_ms=\([0-9.]*\).*/\1/p' "$RIG_DIR/rounds.$1" | median)"
}
printf '\nC_Login (attest, release, import), %s rounds of %s logins, broker on loopback\n' \
	"$ROUNDS" "$LOGINS"
login_rounds "full attestation"
ATTEST11_CONF=$CONF_HOST login_rounds "host lease in the state dir (no attestation)"
# The steps as the module logs them at debug level (a round of its own:
# the logging is not free), medians over its logins.
ATTEST11_LOG=debug $B login "$M" ec 1234 "$LOGINS" 2>&1 >/dev/null |
	sed -n 's/.*exchange ms: challenge \([0-9.]*\), tpm \([0-9.]*\), evidence \([0-9.]*\), import \([0-9.]*\)/\1 \2 \3 \4/p' \
	>"$RIG_DIR/steps"
printf 'steps of a full attestation in the module (median of %s logins, ms):\n' "$LOGINS"
col=1
for name in "challenge (request)" "tpm (evidence)" "evidence (request)" "import"; do
	printf '  %-20s %6s\n' "$name" "$(awk -v c=$col '{ print $c }' "$RIG_DIR/steps" | median)"
	col=$((col + 1))
done
fi

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = capacity ]; then
	. tests/bench/capacity.sh
fi

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = process ]; then
	. tests/bench/process.sh
fi

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = replicas ]; then
	. tests/bench/replicas.sh
fi
