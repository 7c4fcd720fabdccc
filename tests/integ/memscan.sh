#!/usr/bin/env bash
# The broker keeps no copy of a credential's private key once a release is
# built: after releases of every kind from a real swtpm, its memory (every
# readable mapping: heap, anonymous mmaps, stacks) holds none of the
# private scalars of the keys this test generated (tests/integ/memscan.c
# searches each, big- and little-endian). The TLS key the broker holds for
# as long as it serves is found: the scan does see its memory.
. "$(dirname "$0")/../lib.sh"
# Several processes use the TPM one after another: tpm2-abrmd flushes what
# each leaves loaded.
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
broker_setup || { echo "not ok - broker setup"; exit 1; }
D=$RIG_DIR/creds
mkdir -p "$D"
SCAN=$BIN/tests/integ/memscan

make_ca "$D" && make_repo_key "$D" web-ec ec && make_repo_key "$D" web-rsa rsa ||
	{ echo "not ok - keys"; exit 1; }
head -c 600 /dev/urandom | base64 -w0 >"$D/token"
write_policy "$D/p.policy"
write_policy "$D/ca.policy" ', "workload_id": "spiffe://test.example/mint"'
ok "add repository credential (P-256)" broker credential add web-ec --kind repository \
	--policy "$D/p.policy" --key "$D/web-ec.key" --chain "$D/web-ec.chain"
ok "add repository credential (RSA-2048)" broker credential add web-rsa --kind repository \
	--policy "$D/p.policy" --key "$D/web-rsa.key" --chain "$D/web-rsa.chain"
ok "add ca credential (P-256 issuer)" broker credential add mint --kind ca \
	--policy "$D/ca.policy" --key "$D/ca.key" --chain "$D/ca.crt"
ok "add token credential" broker credential add tok --kind token --policy "$D/p.policy" \
	--token "$D/token"
broker_start || { echo "not ok - broker start"; exit 1; }

# Two rounds: a copy left by the first release must be gone after the second too.
for round in 1 2; do
	ok "repository (P-256) released ($round)" attest web-ec
	ok "repository (RSA-2048) released ($round)" attest web-rsa
	ok "ca: certificate issued ($round)" attest mint
	ok "token released ($round)" attest tok
done

# scan KEY...: memscan on the stopped broker
scan() {
	kill -STOP "$BROKER_PID" || return 2
	"$SCAN" "$BROKER_PID" "$@"
	local rc=$?
	kill -CONT "$BROKER_PID"
	return $rc
}
found() { scan "$@"; [ $? = 1 ]; }
ok "the scan finds the TLS key the broker serves with" found "$BROKER_DIR/tls.key"
ok "no scalar of the repository P-256 key in the broker's memory" scan "$D/web-ec.key"
ok "no d, p or q of the repository RSA key in the broker's memory" scan "$D/web-rsa.key"
ok "no scalar of the ca kind's issuer key in the broker's memory" scan "$D/ca.key"
ok "broker stops on SIGTERM" broker_stop
