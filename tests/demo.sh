#!/usr/bin/env bash
# make demo: the main job end to end, step by step, on loopback.
# A private swtpm (with tpm2-abrmd) stands in for the host's TPM, a broker
# holds a credential, nginx demands client certificates, and an unmodified
# curl authenticates with a key that the broker released only after
# attestation and that lives only in the TPM. Its lease is renewed and
# revoked; then the platform changes and the broker refuses. Last, a host
# "booted" from a real firmware event log is appraised by its events.
# Everything started here is stopped on exit.
. "$(dirname "$0")/lib.sh"
set -o pipefail
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
die() { printf '\n\033[31mDEMO FAILED: %s\033[0m\n' "$*"; exit 1; }
start=$(date +%s)

step "1. A TPM for this demo: swtpm with an EK certificate from a private CA"
rig_start 2>/dev/null && rig_abrmd 2>/dev/null || die "cannot start swtpm/tpm2-abrmd"
say "TPM: $A11_TCTI (shared through tpm2-abrmd)"
say "EK certificate chains to: $(openssl x509 -in "$A11_EK_CA_ROOT" -noout -subject)"

step "2. The Credential Broker: keys, database, TLS on loopback"
broker_setup || die "broker init"
broker_start || die "broker start"
say "broker: $BROKER_URL (verifier key $BROKER_DIR/verifier.pub.jwk)"

step "3. Register a credential: key + certificate the broker holds (repository kind)"
D=$RIG_DIR/demo; mkdir -p "$D"
make_ca "$D" && make_repo_key "$D" workload ec && make_repo_key "$D" web ec || die "keys"
echo 4321 >"$D/pin"
pcr() { tpm2_pcrread -T "$A11_TCTI" "sha256:$1" | awk -v p="$1:" '$1 == p {print tolower(substr($2,3))}'; }
write_policy "$D/policy.json" ", \"bind_pcrs\": true, \"pcr_reference\":
	[{\"sha256\": {\"16\": \"$(pcr 16)\", \"23\": \"$(pcr 23)\"}}]" '{"sha256": [16, 23]}'
broker credential add workload --kind repository --policy "$D/policy.json" --key "$D/workload.key" \
	--chain "$D/workload.chain" --pin-file "$D/pin" | sed 's/^/   /' || die "credential add"
say "policy: EK must chain to the swtpm CA; PCR 16 and 23 must hold their reference values;"
say "        the released key is bound to those PCRs inside the TPM; PIN 4321"
shred -u "$D/workload.key" 2>/dev/null || rm -f "$D/workload.key"
say "the private key file is destroyed: from now on only the broker's database holds it, sealed"

step "4. Attest by hand once: challenge, evidence, verdict, release, import"
ATTEST11_LOG=info "$BIN/attest11" attest --tcti "$A11_TCTI" --broker "$BROKER_URL" \
	--ca "$BROKER_DIR/tls.crt" --credential workload --pin-file "$D/pin" --check-sign 2>&1 |
	sed -e 's/^attest11 INFO \([a-z_]*\): /   \1: /' -e '/^attestation_result/d' -e 's/^\([a-z]\)/   \1/' ||
	die "attestation"

step "5. nginx wants a client certificate; curl brings one whose key is in the TPM"
nginx_start demo "ssl_certificate $D/web.chain; ssl_certificate_key $D/web.key;
	ssl_client_certificate $D/ca.crt; ssl_verify_client on;
	location / { return 200 \"hello \$ssl_client_s_dn, your key never left your TPM\\n\"; }" ||
	die "nginx"
module_setup '[{"label": "workload", "credential": "workload", "key_type": "ec"}]'
say "curl --cert 'pkcs11:token=workload;type=cert?pin-value=...' --key 'pkcs11:token=workload;type=private?pin-value=...'"
say "(curl -> OpenSSL pkcs11 engine -> attest11.so: C_Login runs the attestation)"
out=$(ATTEST11_LOG=info curl -sS --cacert "$D/ca.crt" \
	--cert 'pkcs11:token=workload;object=workload;type=cert?pin-value=4321' \
	--key 'pkcs11:token=workload;object=workload;type=private?pin-value=4321' \
	"https://127.0.0.1:$NGINX_PORT_demo/" 2>"$D/curl.log") || { cat "$D/curl.log"; die "curl"; }
sed -n 's/^attest11 INFO \([a-z_]*\): /   module \1: /p' "$D/curl.log"
say "nginx answered: $out"
echo "$out" | grep -q 'CN=workload' || die "nginx did not see the client certificate"

step "6. The lease: the TPM itself enforces its end; renewal extends it without a new key"
S=$RIG_DIR/state
cli() { "$BIN/attest11" "$1" --tcti "$A11_TCTI" --broker "$BROKER_URL" --ca "$BROKER_DIR/tls.crt" \
	--state-dir "$S" --credential workload "${@:2}"; }
lease_of() { "$BIN/attest11" show --state-dir "$S" --credential workload | sed -n "s/^$1: //p"; }
lease=$(lease_of lease | cut -d' ' -f1)
say "curl's login left lease $lease in $S for every process of this host"
say "the key's authPolicy is PolicyAuthorize(broker's approver); this lease's approval says:"
say "  TPM clock <= $(lease_of tpm_clock_end) ms, resetCount == $(lease_of reset_count), PCRs 16+23 as attested, the PIN"
say "the module renews at 2/3 of the lease; by hand:"
cli renew 2>/dev/null | sed -n 's/^lease: /   renewed: lease /p' || die "renewal"
say "new approval: TPM clock <= $(lease_of tpm_clock_end) ms (same key, nothing imported)"

step "7. Revocation: the next renewal is refused, the TPM stops the key at the lease's end"
broker lease revoke "$lease" | sed 's/^/   /' || die "revoke"
if cli renew >"$D/renew.out" 2>&1; then die "a revoked lease was renewed"; fi
sed -n 's/^refused: /   renewal refused: /p' "$D/renew.out"
grep -q lease_revoked "$D/renew.out" || die "renewal refused for another reason"
broker audit export | grep "$lease" | tail -n 2 | grep -o '"event":"[a-z]*","code":"[a-z_]*"' | sed 's/^/   audit: /'
say "(tests/integ/lifecycle.sh shows the TPM refusing the key once the clock passes the end)"
rm -f "$S/workload.lease" # the next login attests afresh

step "8. The platform changes: PCR 23 is extended (new code measured)"
tpm2_pcrextend -T "$A11_TCTI" 23:sha256=$(printf 'c%.0s' $(seq 64)) >/dev/null
say "PCR 23 is now $(tpm2_pcrread -T "$A11_TCTI" sha256:23 | awk '$1 == "23:" {print substr($2,1,18)}')..."
if curl -sS --cacert "$D/ca.crt" --cert 'pkcs11:token=workload;object=workload;type=cert?pin-value=4321' \
	--key 'pkcs11:token=workload;object=workload;type=private?pin-value=4321' \
	"https://127.0.0.1:$NGINX_PORT_demo/" >"$D/out2" 2>"$D/curl2.log"; then
	die "the changed platform still got its credential"
fi
say "curl fails; the module says why:"
grep -o 'the broker refused credential workload: .*' "$D/curl2.log" | head -1 | sed 's/^/   /'
grep -q 'pcr_values' "$D/curl2.log" || die "refusal without the broker's reason"
say "and the broker's audit log records it:"
broker audit export | tail -n 1 | grep -o '"event":"[a-z]*","code":"[a-z_]*"' | sed 's/^/   /'
broker audit verify | sed 's/^/   /'

step "9. Measured boot: a host \"booted\" from a real firmware log, appraised by its events"
LOG=tests/data/eventlogs/rhel8-uefi.bin
evlog_boot "$LOG" || die "cannot replay the log into the TPM"
say "the TPM was reset and given the $(evlog_events "$LOG" | grep -vc EV_NO_ACTION) measurements of a real RHEL 8 boot ($LOG)"
say "the operator derives the rules from a known-good host's log, and reviews them:"
broker policy from-eventlog "$LOG" 2>"$D/review" >"$D/rules.json" || die "from-eventlog"
sed -E -e 's/^/   /' -e 's/([0-9a-f]{8})[0-9a-f]{56}/\1.../' "$D/review" | cut -c1-120
jq --arg ca "$A11_EK_CA_DIR" '. + {ek_ca: $ca}' "$D/rules.json" >"$D/booted.json" &&
	broker credential add booted --kind repository --policy "$D/booted.json" \
		--key "$D/web.key" --chain "$D/web.chain" >/dev/null || die "credential add"
"$BIN/attest11" attest --tcti "$A11_TCTI" --broker "$BROKER_URL" --ca "$BROKER_DIR/tls.crt" \
	--credential booted --eventlog "$LOG" >"$D/booted.out" 2>&1 || { cat "$D/booted.out"; die "release"; }
say "the host sends its log; the broker replays it to the quoted PCRs and judges the events:"
sed -n 's/^verdict: /   released, EAR verdict: /p' "$D/booted.out"
jq '.eventlog.boot_applications |= .[:1]' "$D/booted.json" >"$D/shim-only.json" &&
	broker credential policy booted "$D/shim-only.json" >/dev/null || die "policy"
say "a policy allowing shim but not this grub:"
if "$BIN/attest11" attest --tcti "$A11_TCTI" --broker "$BROKER_URL" --ca "$BROKER_DIR/tls.crt" \
	--credential booted --eventlog "$LOG" >"$D/booted.out" 2>&1; then
	die "a boot application outside the policy was released"
fi
sed -n 's/^refused: /   refused: /p' "$D/booted.out"
grep -q 'eventlog_policy: PCR 4 event 26' "$D/booted.out" || die "refusal without the event"

step "Done in $(( $(date +%s) - start )) s; stopping swtpm, tpm2-abrmd, broker and nginx"
