#!/usr/bin/env bash
# Credentials over time (docs/protocol.md, "Leases"): the TPM itself ends
# a lease, renewal keeps signatures flowing, revocation stops them at the
# lease's end, one attestation per host, public objects before login, and
# certificate files that follow renewals. Leases here last 6 to 12 s.
. "$(dirname "$0")/../lib.sh"
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
broker_setup && broker_start || { echo "not ok - broker"; exit 1; }
BROKER_PORT=$(cat "$BROKER_DIR/port")
D=$RIG_DIR/creds
mkdir -p "$D"
make_ca "$D"
make_repo_key "$D" ec ec && make_repo_key "$D" server ec || { echo "not ok - keys"; exit 1; }
echo 1234 >"$D/pin"
LEASE_TTL=6 write_policy "$D/short.policy"
LEASE_TTL=12 write_policy "$D/mint.policy" ', "workload_id": "spiffe://test.example/mint"'
write_policy "$D/long.policy"
add() { broker credential add "$@" >/dev/null; }
add ec --kind repository --policy "$D/short.policy" --key "$D/ec.key" --chain "$D/ec.chain" --pin-file "$D/pin" &&
add mint --kind ca --policy "$D/mint.policy" --key "$D/ca.key" --chain "$D/ca.crt" --pin-file "$D/pin" &&
add server --kind repository --policy "$D/long.policy" --key "$D/server.key" --chain "$D/server.chain" --pin-file "$D/pin" ||
	{ echo "not ok - credentials"; exit 1; }
module_setup '[{"label": "ec", "credential": "ec", "key_type": "ec"},
	{"label": "mint", "credential": "mint", "key_type": "ec"},
	{"label": "server", "credential": "server", "key_type": "ec"}]'
# The pkcs11 engine configuration is for nginx only: our own programs
# (broker, CLI, p11_lease) must not load attest11.so through OpenSSL.
ENGINE_CONF=$OPENSSL_CONF
unset OPENSSL_CONF
M=$BIN/attest11.so
S=$RIG_DIR/state
export A11_MODULE=$M
LEASE_EXPIRED=c1310005 # CKR_ATTEST11_LEASE_EXPIRED
metric() { curl -sf --cacert "$BROKER_DIR/tls.crt" "$BROKER_URL/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
# wait_for FILE PATTERN SECONDS
wait_for() { for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" && return 0; sleep 0.1; done; return 1; }
signing() { # signing NAME LABEL SECONDS [nothreads]: p11_lease in the background
	"$BIN/tests/integ/p11_lease" "$2" 1234 "$3" 2 ${4:-} >"$RIG_DIR/$1.out" 2>"$RIG_DIR/$1.err" &
	echo $! >>"$RIG_DIR/pids"
	eval "PID_$1=$!"
}

# --- public objects, renewal ---------------------------------------------
ok "before any release a token shows no object without login" bash -c "
	! pkcs11-tool --module $M --token-label ec -O 2>&1 | grep -q 'Object;'"
renewals0=$(metric attest11_renewals_total)
signing renew ec 16
wait "$PID_renew"
ok "continuous signing across at least 3 renewals: no failed signature" bash -c "
	grep '^signatures' $RIG_DIR/renew.out | awk '\$1 == \"signatures\" && \$2 > 100 && \$4 == 0 && \$6 >= 3 {ok=1} END {exit !ok}'"
ok "no thread left after C_Finalize" grep -qx 'threads after C_Finalize: 1' "$RIG_DIR/renew.out"
ok "with ear_key: the private key shows the verified EAR" grep -q '^ear [1-9]' "$RIG_DIR/renew.out"
ok "the broker counted the renewals" bash -c "[ \$(( $(metric attest11_renewals_total) - $renewals0 )) -ge 3 ]"
# An application that forbids library threads: the call that finds the
# renewal due does it (main thread + 2 signers, no module thread).
signing inline ec 12 nothreads
wait "$PID_inline"
ok "no library threads (CKF_LIBRARY_CANT_CREATE_OS_THREADS): renewed inline, no failed signature" bash -c "
	grep '^signatures' $RIG_DIR/inline.out | awk '\$4 == 0 && \$6 >= 2 {ok=1} END {exit !ok}' &&
	grep -qx 'most threads while signing: 3' $RIG_DIR/inline.out"
ok "after a release: certificate and public key listed without login, no private key" bash -c "
	o=\$(pkcs11-tool --module $M --token-label ec -O 2>&1)
	echo \"\$o\" | grep -q 'Certificate Object' && echo \"\$o\" | grep -q 'Public Key Object' && ! echo \"\$o\" | grep -q 'Private Key'"
# pkcs11-provider's no-deinit quirk: dlclose without C_Finalize while the
# renewal thread sleeps; it wakes (renewal due within 4 s) after the unload.
# No leak check for this one process (SANITIZE=1): it leaves the module
# initialized on purpose, so all the module holds is live at exit, and
# LeakSanitizer's tracer faults on the still-running renewal thread.
ok "dlclose without C_Finalize: the process outlives the renewal thread's wake-up" bash -c "
	ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0 \
		$BIN/tests/integ/p11_unload ec 1234 8 >$RIG_DIR/unload.out 2>$RIG_DIR/unload.err
	r=\$?; cat $RIG_DIR/unload.out; [ \$r = 0 ] && grep -qx 'alive after 8 s' $RIG_DIR/unload.out"

# --- the PIN is checked by the TPM, with no broker -------------------------
rm -f "$S/ec.lease"
ok "a login attests and leaves the lease in the state dir" bash -c "
	pkcs11-tool --module $M --token-label ec -O --login --pin 1234 >/dev/null 2>&1 && [ -f $S/ec.lease ] &&
	pkcs11-tool --module $M --token-label server -O --login --pin 1234 >/dev/null 2>&1"
broker_stop
ok "broker down, cached lease: a wrong PIN fails in the TPM (CKR_PIN_INCORRECT)" bash -c "
	pkcs11-tool --module $M --token-label ec -O --login --pin 9999 2>&1 | grep -q CKR_PIN_INCORRECT"
ok "broker down, cached lease: the right PIN opens it" bash -c "
	pkcs11-tool --module $M --token-label ec -O --login --pin 1234 2>&1 | grep -q 'Private Key Object'"
# The TPM's dictionary-attack counter is one for the whole host: wrong
# PINs on one token lock out every token. Two tries allowed here, then
# the rig's relaxed setting again.
da() { tpm2_dictionarylockout -T "$A11_TCTI" "$@" >/dev/null 2>&1; }
pinrun() { "$BIN/tests/integ/p11_lease" "$1" "$2" 0 >"$RIG_DIR/$3.out" 2>&1; }
da -s -n 2 -t 60 -l 60 && da -c
pinrun ec 9999 da1
ok "a wrong PIN: CKR_PIN_INCORRECT, the token says one more locks the TPM" bash -c "
	grep -q 'login rv=0xa0 ' $RIG_DIR/da1.out && grep -q 'pin flags: count_low final_try\$' $RIG_DIR/da1.out"
pinrun ec 9999 da2
ok "the second wrong PIN puts the TPM in lockout: CKR_PIN_LOCKED, named in the log" bash -c "
	grep -q 'login rv=0xa4 ' $RIG_DIR/da2.out && grep -q 'pin flags: locked\$' $RIG_DIR/da2.out &&
	grep -q 'dictionary-attack lockout (2 failed authorizations, 2 allowed)' $RIG_DIR/da2.out"
pinrun server 1234 da3
ok "then the right PIN of another token is CKR_PIN_LOCKED too, saying why" bash -c "
	grep -q 'login rv=0xa4 ' $RIG_DIR/da3.out && grep -q 'every PIN of every key on this host' $RIG_DIR/da3.out"
da -c && da -s -n 1000 -t 1 -l 1
ok "after the owner clears the lockout, the right PIN opens it" bash -c "
	pkcs11-tool --module $M --token-label server -O --login --pin 1234 2>&1 | grep -q 'Private Key Object'"
rm -f "$S/server.lease"   # nginx below attests it afresh, once
broker_start "$BROKER_PORT" || echo "not ok - broker restart"

# --- nothing invalid is trusted from the state dir -------------------------
# A lease file whose certificate is garbage (as a hostile broker's release
# once left there): the next login does not fail on it until the lease
# ends, it attests afresh and shares a release that passed the checks.
# (A fresh lease first: the file's 6 s lease may be ending by now.)
rm -f "$S/ec.lease"
pkcs11-tool --module "$M" --token-label ec -O --login --pin 1234 >/dev/null 2>&1
sed -i 's/"certificates":\["[^"]*"/"certificates":["MAAAAA=="/' "$S/ec.lease"
ok "a state file with a garbage certificate: the login attests afresh" bash -c "
	pkcs11-tool --module $M --token-label ec -O --login --pin 1234 2>$RIG_DIR/poison.err | grep -q 'Private Key Object'"
ok "the module logged why it did not use the file" grep -q 'is not one DER X.509 certificate' "$RIG_DIR/poison.err"
ok "the state file holds the fresh release again" bash -c "! grep -q MAAAAA== $S/ec.lease &&
	pkcs11-tool --module $M --token-label ec -O 2>&1 | grep -q 'Certificate Object'"

# --- the EAR is shown only once verified (ear_key) -------------------------
ear_probe() { # ear_probe NAME SED-EXPR: a fresh login, the module's conf edited
	rm -f "$S/ec.lease"
	sed "$2" "$ATTEST11_CONF" >"$RIG_DIR/$1.conf"
	ATTEST11_LOG=info ATTEST11_CONF=$RIG_DIR/$1.conf "$BIN/tests/integ/p11_lease" ec 1234 0.1 1 \
		>"$RIG_DIR/$1.out" 2>"$RIG_DIR/$1.err"
}
ear_probe noear 's/"ear_key": "[^"]*", //'
ok "no ear_key: the EAR attribute is absent (CKR_ATTRIBUTE_TYPE_INVALID)" \
	grep -qx 'ear absent (rv=0x12)' "$RIG_DIR/noear.out"
ok "no ear_key: the log says why" grep -q 'no ear_key configured' "$RIG_DIR/noear.err"
ear_probe wrongear "s|\"ear_key\": \"[^\"]*\"|\"ear_key\": \"$BROKER_DIR/tls.crt\"|"
ok "an ear_key that is not the broker's EAR key: the EAR is dropped" bash -c "
	grep -qx 'ear absent (rv=0x12)' $RIG_DIR/wrongear.out && grep -q 'attestation result is dropped' $RIG_DIR/wrongear.err"
# A rotation's overlap (docs/operations.md, "Rotating keys"): the old and
# the new public key in one JWK set, each token checked by its kid.
jq -c '.kid = "old-ear-key"' "$BROKER_DIR/verifier.pub.jwk" >"$RIG_DIR/old.jwk"
jq -s '{keys: .}' "$RIG_DIR/old.jwk" "$BROKER_DIR/verifier.pub.jwk" >"$RIG_DIR/both.jwks"
jq -s '{keys: .}' "$RIG_DIR/old.jwk" >"$RIG_DIR/old.jwks"
ear_probe earset "s|\"ear_key\": \"[^\"]*\"|\"ear_key\": \"$RIG_DIR/both.jwks\"|"
ok "an ear_key set holding the broker's key among others: the EAR is shown" \
	grep -q '^ear [1-9]' "$RIG_DIR/earset.out"
ear_probe oldset "s|\"ear_key\": \"[^\"]*\"|\"ear_key\": \"$RIG_DIR/old.jwks\"|"
ok "an ear_key set without the key the EAR's kid names: the EAR is dropped" bash -c "
	grep -qx 'ear absent (rv=0x12)' $RIG_DIR/oldset.out && grep -q 'attestation result is dropped' $RIG_DIR/oldset.err"
rm -f "$S/ec.lease"

# --- the lease ends inside the TPM ---------------------------------------
rm -f "$S/ec.lease"
signing ended ec 40
wait_for "$RIG_DIR/ended.out" 'lease expires' 10
"$BIN/attest11" show --state-dir "$S" --credential ec --save-key "$D/cached" >/dev/null
sign_cached() { # tpm2-tools with the host's cached key and its last approval
	( set -e; cd "$D"; T=$A11_TCTI; read -r clock_end resets <cached.terms
	tpm2_load -T "$T" -C "$(saved_parent cached)" -u cached.pub -r cached.priv -c cached.ctx >/dev/null
	tpm2_loadexternal -T "$T" -C o -u cached.approver -c appr.ctx -n appr.name >/dev/null
	cat cached.approved cached.ref | openssl dgst -sha256 -binary >ahash
	tpm2_verifysignature -T "$T" -c appr.ctx -d ahash -s cached.sig -t tk >/dev/null
	tpm2_startauthsession -T "$T" --policy-session -S s.ctx >/dev/null
	trap 'tpm2_flushcontext -T "$T" s.ctx >/dev/null 2>&1 || true' EXIT
	tpm2_policycountertimer -T "$T" -S s.ctx --ule "clock=$clock_end" >/dev/null
	tpm2_policycountertimer -T "$T" -S s.ctx --eq "resets=$resets" >/dev/null
	tpm2_policyauthvalue -T "$T" -S s.ctx >/dev/null
	tpm2_policyauthorize -T "$T" -S s.ctx -i cached.approved -q cached.ref -n appr.name -t tk >/dev/null
	auth=$(printf 1234 | openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:1234 \
		-kdfopt hexsalt:"$(cat cached.salt)" -kdfopt iter:"$(cat cached.iter)" PBKDF2 | tr -d ':')
	echo data >msg
	tpm2_sign -T "$T" -c cached.ctx -p "session:s.ctx+hex:$auth" -g sha256 -o sig.out msg >/dev/null )
}
broker_stop
ok "tpm2-tools sign with the cached key under its last approval while the lease lasts" sign_cached
ok "broker down: the module's signatures fail at the lease's end (CKR_ATTEST11_LEASE_EXPIRED)" \
	wait_for "$RIG_DIR/ended.out" "sign rv=0x$LEASE_EXPIRED" 15
sign_cached_refused() { ! sign_cached >"$RIG_DIR/cached.err" 2>&1 && grep -q 'PolicyCounterTimer\|0x126\|policy' "$RIG_DIR/cached.err"; }
ok "tpm2-tools: the TPM refuses the cached key at PolicyCounterTimer" sign_cached_refused
broker_start "$BROKER_PORT" || echo "not ok - broker restart"
ok "broker back: a renewal brings the key back" \
	wait_for "$RIG_DIR/ended.out" "sign rv=0x0 (was 0x$LEASE_EXPIRED)" 40
ok "the module's log names the cause" grep -q 'lease .* is over' "$RIG_DIR/ended.err"
kill "$PID_ended" 2>/dev/null; wait "$PID_ended" 2>/dev/null

# --- revocation ----------------------------------------------------------
rm -f "$S/ec.lease"
signing revoked ec 30
wait_for "$RIG_DIR/revoked.out" 'lease expires' 10
lease=$("$BIN/attest11" show --state-dir "$S" --credential ec | sed -n 's/^lease: \([0-9a-f]*\) .*/\1/p')
ok "revoke the lease" broker lease revoke "$lease"
ok "revoked: the next renewal is refused and signing stops at the lease's end" \
	wait_for "$RIG_DIR/revoked.out" "sign rv=0x$LEASE_EXPIRED" 15
ok "the module logs the refusal" grep -q 'lease_revoked' "$RIG_DIR/revoked.err"
ok "the audit shows the revocation and the refused renewal" bash -c "
	a=\$($BIN/attest11-broker -d $BROKER_DIR audit export | grep $lease)
	echo \"\$a\" | grep -q '\"event\":\"revoke\"' && echo \"\$a\" | grep -q '\"code\":\"lease_revoked\"'"
kill "$PID_revoked" 2>/dev/null; wait "$PID_revoked" 2>/dev/null

# --- one attestation per host: nginx, master + 4 workers ------------------
attest0=$(metric attest11_attestations_total)
OPENSSL_CONF=$ENGINE_CONF NGINX_WORKERS=4 NGINX_LISTEN_OPTS=reuseport nginx_start four "ssl_certificate $D/server.chain;
	ssl_certificate_key \"engine:pkcs11:pkcs11:token=server;object=server;type=private?pin-value=1234\";
	location / { return 200 \"served by \$pid\\n\"; }" || echo "not ok - nginx with 4 workers"
ok "nginx (master + 4 workers): 120 handshakes" bash -c "
	for i in \$(seq 120); do curl -sf --cacert $D/ca.crt -H 'Connection: close' https://127.0.0.1:$NGINX_PORT_four/ || exit 1; done >$RIG_DIR/four.txt"
ok "all 4 workers handled handshakes" bash -c "[ \$(sort -u $RIG_DIR/four.txt | wc -l) = 4 ]"
ok "exactly one attestation for the 5 processes" bash -c "[ \$(( $(metric attest11_attestations_total) - $attest0 )) = 1 ]"

# --- certificate files that follow renewals --------------------------------
ok "a first login releases the ca kind's certificate" bash -c "
	pkcs11-tool --module $M --token-label mint -O --login --pin 1234 >/dev/null 2>&1"
ok "attest11 cert writes it" "$BIN/attest11" cert --token mint --out "$D/mint.pem" --chain
OPENSSL_CONF=$ENGINE_CONF ATTEST11_LOG=${ATTEST11_LOG:-warn} nginx_start mint "ssl_certificate $D/mint.pem;
	ssl_certificate_key \"engine:pkcs11:pkcs11:token=mint;object=mint;type=private?pin-value=1234\";
	location / { return 200 \"ok\\n\"; }" || echo "not ok - nginx with a ca-kind certificate"
# SIGHUP, as systemd's reload does (nginx -s would parse the whole
# configuration, engine keys included, in the signalling process).
reload="kill -HUP \$(cat $RIG_DIR/nginx-mint/nginx.pid) && echo reload >>$RIG_DIR/hook.log"
"$BIN/attest11" cert --watch --interval 1 --token mint --out "$D/mint.pem" --chain \
	--on-change "$reload" >"$RIG_DIR/watch.log" 2>&1 &
WATCH=$!
echo $WATCH >>"$RIG_DIR/pids"
serial() { echo | openssl s_client -connect "127.0.0.1:$NGINX_PORT_mint" 2>/dev/null | openssl x509 -noout -serial; }
first=$(serial)
fails=0
for _ in $(seq 200); do # ~20 s: two renewals of a 12 s lease (the certificate's CN is mint): 4 s of margin for renewal + watch + reload
	curl -sSf --cacert "$D/ca.crt" --resolve "mint:$NGINX_PORT_mint:127.0.0.1" \
		"https://mint:$NGINX_PORT_mint/" >/dev/null 2>>"$RIG_DIR/curl.err" ||
		fails=$((fails + 1))
	sleep 0.1
done
ok "attest11 cert --on-change ran its hook when the certificate was renewed" grep -q reload "$RIG_DIR/hook.log"
ok "nginx serves the renewed certificate after the reload" bash -c "[ -n '$first' ] && [ \"\$(echo | openssl s_client -connect 127.0.0.1:$NGINX_PORT_mint 2>/dev/null | openssl x509 -noout -serial)\" != '$first' ]"
ok "no failed request during the reloads ($fails failed)" bash -c "[ $fails = 0 ] || {
	sort $RIG_DIR/curl.err | uniq -c | head -n 5; grep -v '\[info\]\|\[notice\]' $RIG_DIR/nginx-mint/logs/error.log | tail -n 10; false; }"
kill -TERM "$WATCH"; wait "$WATCH" 2>/dev/null
if [ -n "${A11_KEEP:-}" ]; then cp -r "$RIG_DIR" "$A11_KEEP"; fi # for a post-mortem
