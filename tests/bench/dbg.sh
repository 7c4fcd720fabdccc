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
# BENCH_ONLY=login, capacity or process: those figures alone. The broker is broker_setup's
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
ATTEST11_CONF=$CONF_HOST $BIN/tests/bench/start $M ec 1234
for i in 1 2 3; do ATTEST11_CONF=$CONF_HOST $BIN/tests/bench/start $M ec 1234; done
ATTEST11_CONF=$CONF_HOST strace -f -r -o $PWD/../strace.out $BIN/tests/bench/start $M ec 1234
ATTEST11_CONF=$CONF_HOST ATTEST11_LOG=debug $BIN/tests/bench/start $M ec 1234
${DBG_EXTRA:-true}
