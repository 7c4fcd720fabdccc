#!/usr/bin/env bash
# The broker end to end over TLS with the real swtpm: each credential kind
# released and used in the TPM, refusals with their codes and audit
# records, a restart that loses nothing, and a tamper-evident audit chain.
. "$(dirname "$0")/../lib.sh"
# Several processes share the TPM here, so they go through tpm2-abrmd,
# which also flushes whatever a process leaves loaded.
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
broker_setup || { echo "not ok - broker setup"; exit 1; }
D=$RIG_DIR/creds
mkdir -p "$D"

# --- credentials -------------------------------------------------------
# A repository key with a chain (leaf signed by a private CA).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=repo-ca \
	-addext basicConstraints=critical,CA:TRUE -keyout "$D/ca.key" -out "$D/ca.crt" 2>/dev/null
for kind in ec:P-256 rsa:3072; do
	n=${kind%%:*}
	if [ "$n" = ec ]; then opt="-newkey ec -pkeyopt ec_paramgen_curve:P-256"; else opt="-newkey rsa:3072"; fi
	# shellcheck disable=SC2086
	openssl req -new $opt -nodes -subj "/CN=web-$n" -keyout "$D/web-$n.key" -out "$D/web-$n.csr" 2>/dev/null
	openssl x509 -req -in "$D/web-$n.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -days 2 \
		-set_serial 0x$RANDOM -out "$D/web-$n.crt" 2>/dev/null
	cat "$D/web-$n.crt" "$D/ca.crt" >"$D/web-$n.chain"
done
head -c 600 /dev/urandom | base64 -w0 >"$D/token"
echo 123456 >"$D/pin"; echo 654321 >"$D/badpin"

policy() { # policy NAME [EXTRA-JSON [PCR-SELECTION]]
	printf '{"ek_ca": "%s", "pcr_selection": %s, "lease_ttl": 600%s}\n' "$A11_EK_CA_DIR" \
		"${3:-{\"sha256\": [0,1,2,3,4,5,6,7]\}}" "${2:-}" >"$D/$1.policy"
	echo "$D/$1.policy"
}
pcr23=$(tpm2_pcrread -T "$A11_TCTI" sha256:23 | awk '$1 == "23:" {print tolower(substr($2,3))}')

ok "add repository credential (P-256)" broker credential add web --kind repository \
	--policy "$(policy web)" --key "$D/web-ec.key" --chain "$D/web-ec.chain"
ok "add repository credential (RSA-3072, PIN)" broker credential add web-rsa --kind repository \
	--policy "$(policy web-rsa ', "pin_max_failures": 3')" --key "$D/web-rsa.key" \
	--chain "$D/web-rsa.chain" --pin-file "$D/pin"
ok "add ca credential" broker credential add mint --kind ca \
	--policy "$(policy mint ', "workload_id": "spiffe://test.example/mint"')" \
	--key "$D/ca.key" --chain "$D/ca.crt"
ok "a ca credential without a workload_id is refused when added" bash -c "
	out=\$($BIN/attest11-broker -d $BROKER_DIR credential add nouri --kind ca --policy $(policy nouri) \
		--key $D/ca.key --chain $D/ca.crt 2>&1) && exit 1
	echo \"\$out\" | grep -q workload_id && ! $BIN/attest11-broker -d $BROKER_DIR credential list | grep -q nouri"
ok "add token credential" broker credential add tok --kind token --policy "$(policy tok)" \
	--token "$D/token"
ok "add PCR-bound credential" broker credential add bound --kind repository \
	--policy "$(policy bound ', "bind_pcrs": true' '{"sha256": [16]}')" \
	--key "$D/web-ec.key" --chain "$D/web-ec.chain"
ok "add credential with reference values" broker credential add refs --kind repository \
	--policy "$(policy refs ", \"pcr_reference\": [{\"sha256\": {\"23\": \"$pcr23\"}}]" '{"sha256": [23]}')" \
	--key "$D/web-ec.key" --chain "$D/web-ec.chain"
ok "add credential that requires an affirming executables claim" broker credential add strict \
	--kind repository --policy "$(policy strict ', "ar4si": {"executables": "affirming"}')" \
	--key "$D/web-ec.key" --chain "$D/web-ec.chain"
ok "add credential with an EK allow-list" broker credential add allow --kind repository \
	--policy "$(policy allow ", \"ek_allow\": [\"$(printf '0%.0s' $(seq 64))\"]")" \
	--key "$D/web-ec.key" --chain "$D/web-ec.chain"
mkdir -p "$D/otherca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=swtpm-localca-rootca -keyout "$D/otherca/k.pem" -out "$D/otherca/root.pem" 2>/dev/null
rm "$D/otherca/k.pem"
printf '{"ek_ca": "%s", "pcr_selection": {"sha256": [0]}}\n' "$D/otherca" >"$D/other.policy"
ok "add credential trusting another EK CA" broker credential add other --kind repository \
	--policy "$D/other.policy" --key "$D/web-ec.key" --chain "$D/web-ec.chain"
ok "credential list shows all nine" bash -c "[ \$($BIN/attest11-broker -d $BROKER_DIR credential list | wc -l) = 9 ]"
broker_start || { echo "not ok - broker start"; exit 1; }

# --- releases ----------------------------------------------------------
ok "repository (P-256) released, signs in the TPM, matches its certificate" attest web --check-sign
ok "the same identified by the RSA-2048 EK (the default picks swtpm's P-384 one)" \
	attest web --ek rsa --check-sign
ok "repository (RSA-3072) with PIN, to the P-384 EK directly" \
	attest web-rsa --pin-file "$D/pin" --ek p384 --wrap-to-ek --check-sign
ok "ca: certificate issued for a TPM-born key" attest mint --check-sign
ok "ca: certificate saved" attest mint --save-key "$D/mint"
ok "ca: certificate carries the workload id and chains to the CA" bash -c "
	openssl x509 -in $D/mint.crt -noout -ext subjectAltName | grep -q 'URI:spiffe://test.example/mint' &&
	openssl verify -CAfile $D/ca.crt $D/mint.crt"
ok "token released through a sealed object" bash -c \
	"$BIN/attest11 attest --tcti '$A11_TCTI' --broker $BROKER_URL --ca $BROKER_DIR/tls.crt --credential tok | grep -q 'token: 800 bytes'"
ok "reference values match" attest refs
ok "attestation result is an EAR with an affirming AR4SI vector" bash -c "
	attest() { $BIN/attest11 attest --tcti '$A11_TCTI' --broker $BROKER_URL --ca $BROKER_DIR/tls.crt --credential \$1; }
	jws=\$(attest web | sed -n 's/^attestation_result: //p')
	payload=\$(echo \"\$jws\" | cut -d. -f2 | tr '_-' '/+'); while [ \$((\${#payload} % 4)) != 0 ]; do payload=\$payload=; done
	echo \"\$payload\" | base64 -d | grep -q '\"ear.status\":\"affirming\"'"
ok "private key bytes never appear in the broker's log" bash -c "
	d=\$(openssl pkey -in $D/web-ec.key -noout -text | sed -n '/priv:/,/pub:/p' | tr -d ' :\n' | sed 's/priv//; s/pub//' | tail -c 32)
	[ -n \"\$d\" ] && ! grep -rqi -- \"\$d\" $RIG_DIR/broker.log"

# A PCR-bound key signs until PCR 16 moves, then the TPM refuses it:
# checked with tpm2-tools, independently of attest11's own TPM code, from
# the saved key and its lease's approval (docs/protocol.md, "Leases").
ok "PCR-bound key released and saved" attest bound --save-key "$D/bound"
sign_leased() { # sign_leased PREFIX: the lease's policy session, then a signature
	( set -e; cd "$(dirname "$1")"; k=$(basename "$1"); T=$A11_TCTI
	read -r clock_end resets <"$k.terms"
	tpm2_load -T "$T" -C "$(saved_parent "$k")" -u "$k.pub" -r "$k.priv" -c "$k.ctx" >/dev/null
	tpm2_loadexternal -T "$T" -C o -u "$k.approver" -c "$k.appr.ctx" -n "$k.appr.name" >/dev/null
	cat "$k.approved" "$k.ref" | openssl dgst -sha256 -binary >"$k.ahash"
	tpm2_verifysignature -T "$T" -c "$k.appr.ctx" -d "$k.ahash" -s "$k.sig" -t "$k.tk" >/dev/null
	tpm2_startauthsession -T "$T" --policy-session -S "$k.s.ctx" >/dev/null
	trap 'tpm2_flushcontext -T "$T" "$k.s.ctx" >/dev/null 2>&1 || true' EXIT
	tpm2_policycountertimer -T "$T" -S "$k.s.ctx" --ule "clock=$clock_end" >/dev/null
	tpm2_policycountertimer -T "$T" -S "$k.s.ctx" --eq "resets=$resets" >/dev/null
	if [ -z "${2:-}" ]; then tpm2_policypcr -T "$T" -S "$k.s.ctx" -l sha256:16 >/dev/null; fi
	tpm2_policyauthorize -T "$T" -S "$k.s.ctx" -i "$k.approved" -q "$k.ref" -n "$k.appr.name" -t "$k.tk" >/dev/null
	echo data >"$k.msg"
	tpm2_sign -T "$T" -c "$k.ctx" -p "session:$k.s.ctx" -g sha256 -o "$k.out" "$k.msg" >/dev/null )
}
sign_bound() { sign_leased "$D/bound"; }
ok "PCR-bound key signs with tpm2-tools under its lease (counters, PCRs, approval)" sign_bound
tpm2_pcrextend -T "$A11_TCTI" 16:sha256=$(printf 'a%.0s' $(seq 64)) >/dev/null
sign_bound_refused() { ! sign_bound; }
ok "after extending PCR 16 the TPM refuses to sign" sign_bound_refused

# --- refusals ----------------------------------------------------------
refused ekcert_untrusted "EK certificate from an untrusted CA" attest other
refused ek_not_allowed "EK not on the allow-list" attest allow
refused unknown_credential "unknown credential" attest nosuch
refused trust_tier "executables not appraised (no reference values) but required" attest strict
refused pin_required "PIN required" attest web-rsa
refused pin_incorrect "wrong PIN" attest web-rsa --pin-file "$D/badpin"
refused pin_incorrect "wrong PIN again" attest web-rsa --pin-file "$D/badpin"
refused pin_locked "lockout after three failures" attest web-rsa --pin-file "$D/badpin"
refused pin_locked "locked even with the right PIN" attest web-rsa --pin-file "$D/pin"
ok "unlock" broker credential unlock web-rsa
ok "right PIN after unlock" attest web-rsa --pin-file "$D/pin"
tpm2_pcrextend -T "$A11_TCTI" 23:sha256=$(printf '1%.0s' $(seq 64)) >/dev/null
refused pcr_values "PCR 23 extended: values no longer match" attest refs

# Renewal and revocation (the lease kept in a state dir, as the module does).
renew() { "$BIN/attest11" renew --tcti "$A11_TCTI" --broker "$BROKER_URL" --ca "$BROKER_DIR/tls.crt" \
	--state-dir "$D/state" --credential "$@"; }
lease=$(attest web --state-dir "$D/state" | sed -n 's/^lease: \([0-9a-f]*\) .*/\1/p')
ok "renewal of a live lease, and the key signs under the new approval" renew web --check-sign
ok "ca: renewal issues a new certificate for the same TPM-born key" bash -c "
	$BIN/attest11 attest --tcti '$A11_TCTI' --broker $BROKER_URL --ca $BROKER_DIR/tls.crt --credential mint --state-dir $D/state --save-key $D/mint1 >/dev/null &&
	$BIN/attest11 renew --tcti '$A11_TCTI' --broker $BROKER_URL --ca $BROKER_DIR/tls.crt --state-dir $D/state --credential mint --check-sign --save-key $D/mint2 >/dev/null &&
	! cmp -s $D/mint1.crt $D/mint2.crt && cmp -s $D/mint1.pub $D/mint2.pub"
ok "revoke the lease" broker lease revoke "$lease"
refused lease_revoked "renewal of a revoked lease" renew web
sed "s/$lease/0123456789abcdef0123456789abcdef/" "$D/state/web.lease" >"$D/state/web.lease.tmp" &&
	mv "$D/state/web.lease.tmp" "$D/state/web.lease"
refused lease_unknown "renewal of an unknown lease" renew web
ok "revoke every lease of a credential" broker lease revoke --credential mint
refused lease_revoked "renewal after the credential's leases were revoked" renew mint
attest tok --state-dir "$D/state" >/dev/null
ok "token: renewal of its lease" renew tok
ek=$(broker audit export | sed -n 's/.*"ek_hash":"\([0-9a-f]\{64\}\)".*/\1/p' | tail -n 1)
ok "revoke every lease of a TPM by its EK hash" broker lease revoke --ek "$ek"
refused lease_revoked "renewal after the TPM's leases were revoked" renew tok
sed "s/0123456789abcdef0123456789abcdef/$lease/" "$D/state/web.lease" >"$D/state/web.lease.tmp" &&
	mv "$D/state/web.lease.tmp" "$D/state/web.lease"

# Protocol-level forgeries, driven by a C client speaking raw protocol.
WEB_KEY=$D/web-ec.key CMOCKA_MESSAGE_OUTPUT=TAP BROKER_URL=$BROKER_URL BROKER_CA=$BROKER_DIR/tls.crt \
	"$BIN/tests/integ/broker_forgery" 2>"$RIG_DIR/forgery.err" | grep -E '^(not )?ok '
ok "broker still serves after the forgeries" curl -sf --cacert "$BROKER_DIR/tls.crt" "$BROKER_URL/healthz"
ok "metrics count releases and refusals by reason" bash -c "
	m=\$(curl -sf --cacert $BROKER_DIR/tls.crt $BROKER_URL/metrics)
	echo \"\$m\" | grep -q 'attest11_releases_total{kind=\"repository\"} [1-9]' &&
	echo \"\$m\" | grep -q 'attest11_refusals_total{reason=\"pin_incorrect\"} 2' &&
	echo \"\$m\" | grep -q 'attest11_request_duration_seconds_bucket'"

# --- restart and audit -------------------------------------------------
ok "broker stops on SIGTERM" broker_stop
ok "broker.conf: an unknown member (an older broker's setting) stops a command, naming it" bash -c "
	mkdir -p $RIG_DIR/b2 && echo '{\"port\": 0, \"pin_scrypt_log2n\": 15}' >$RIG_DIR/b2/broker.conf &&
	! $BIN/attest11-broker -d $RIG_DIR/b2 credential list >$RIG_DIR/b2.out 2>&1 &&
	grep -q 'broker.conf: unknown member pin_scrypt_log2n' $RIG_DIR/b2.out"
ok "broker.conf: store names the database; with its older name database as well, it is refused" bash -c "
	mkdir -p $RIG_DIR/b3 && echo '{\"store\": \"sqlite:$RIG_DIR/b3/other.db\"}' >$RIG_DIR/b3/broker.conf &&
	$BIN/attest11-broker -d $RIG_DIR/b3 credential list && [ -s $RIG_DIR/b3/other.db ] &&
	echo '{\"store\": \"sqlite:$RIG_DIR/b3/other.db\", \"database\": \"sqlite:$RIG_DIR/b3/x.db\"}' >$RIG_DIR/b3/broker.conf &&
	! $BIN/attest11-broker -d $RIG_DIR/b3 credential list >$RIG_DIR/b3.out 2>&1 &&
	grep -q 'store and database are one setting' $RIG_DIR/b3.out"
ok "master-key rotate re-seals every credential under a new key, keeping the old one" bash -c "
	cp $BROKER_DIR/master.key $RIG_DIR/master.key.before &&
	$BIN/attest11-broker -d $BROKER_DIR master-key rotate $BROKER_DIR/master.key.new &&
	cmp -s $BROKER_DIR/master.key.old $RIG_DIR/master.key.before &&
	! cmp -s $BROKER_DIR/master.key $RIG_DIR/master.key.before && [ ! -e $BROKER_DIR/master.key.new ]"
broker_start
ok "leases survive a restart" bash -c "broker() { $BIN/attest11-broker -d $BROKER_DIR \"\$@\"; }; broker lease list | grep -q $lease.*REVOKED"
refused lease_revoked "revocation survives a restart" renew web
ok "a release after restart" attest web --check-sign
ok "the PIN opens its credential under the rotated master key" attest web-rsa --pin-file "$D/pin"
refused pin_incorrect "a wrong PIN is still refused" attest web-rsa --pin-file "$D/badpin"
sqlite3 "$BROKER_DIR/broker.db" "UPDATE credentials SET pin_verifier = '\$scrypt\$15\$8\$1\$c2FsdA==\$aGFzaA==' WHERE name = 'web-rsa'"
refused internal "a PIN record of an older broker (scrypt) is refused" attest web-rsa --pin-file "$D/pin"
ok "the broker's log names the remedy" grep -q "web-rsa: its PIN record is an older broker's; set the PIN again" "$RIG_DIR/broker.log"
ok "credential pin sets it again" broker credential pin web-rsa --pin-file "$D/pin"
ok "the PIN opens its credential again" attest web-rsa --pin-file "$D/pin"
ok "audit chain verifies" broker audit verify
ok "audit has releases and refusals" bash -c "broker() { $BIN/attest11-broker -d $BROKER_DIR \"\$@\"; }; a=\$(broker audit export); echo \"\$a\" | grep -q '\"event\":\"release\"' && echo \"\$a\" | grep -q '\"code\":\"ekcert_untrusted\"' && echo \"\$a\" | grep -q '\"event\":\"revoke\"'"
broker_stop
# The triggers stop casual edits; someone with the file can drop them.
ok "the database refuses a plain edit of the audit log" bash -c \
	"! sqlite3 $BROKER_DIR/broker.db \"UPDATE audit SET code = 'ok' WHERE seq = 3\" 2>/dev/null"
sqlite3 "$BROKER_DIR/broker.db" "DROP TRIGGER audit_no_update; UPDATE audit SET code = 'edited' WHERE seq = 3"
ok "audit verify detects an edited row" bash -c "! $BIN/attest11-broker -d $BROKER_DIR audit verify"
