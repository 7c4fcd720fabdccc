#!/usr/bin/env bash
# Two brokers on one PostgreSQL database (docs/operations.md, "Running
# several brokers"): the same key material, copied; any replica serves any
# step; a session is used once whichever replica gets it; PIN lockout,
# revocation and the audit chain hold across them; and one replica killed
# with SIGKILL under load (attest11-load and a module process signing
# under 6 s leases, both given both URLs) loses no release, duplicates
# none, and the renewals go on at the survivor. Simulated hosts
# (tests/integ/replica_race.c, attest11-load) carry an EK CA this test
# makes; the module and the CLI use swtpm.
. "$(dirname "$0")/../lib.sh"
. tests/rig/pg.sh
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
pg_start 2>"$RIG_DIR/pg.log" || { echo "not ok - PostgreSQL"; cat "$RIG_DIR/pg.log"; exit 1; }
trap 'pg_stop; rig_stop' EXIT
trap 'pg_stop; rig_stop; exit 130' INT TERM
RACE=$BIN/tests/integ/replica_race
D=$RIG_DIR/creds
SIM_CA=$RIG_DIR/simca
mkdir -p "$D" "$SIM_CA"

# Replica a's directory: keys, TLS certificate, and the database's URI.
broker_setup || { echo "not ok - broker setup"; exit 1; }
printf '{"port": 0, "threads": 4, "nonce_ttl": 30, "store": "%s"}\n' "$A11_TEST_PG" \
	>"$BROKER_DIR/broker.conf"
sim_ek_ca "$D/simca.key" "$SIM_CA/simca.pem"
make_ca "$D" && make_repo_key "$D" web ec || { echo "not ok - keys"; exit 1; }
echo 1234 >"$D/pin"; echo 9999 >"$D/badpin"
A11_EK_CA_DIR=$SIM_CA write_policy "$D/sim.policy"
A11_EK_CA_DIR=$SIM_CA write_policy "$D/simpin.policy" ', "pin_max_failures": 3'
LEASE_TTL=6 write_policy "$D/short.policy"
add() { broker credential add "$@" >/dev/null; }
add web --kind repository --policy "$D/sim.policy" --key "$D/web.key" --chain "$D/web.chain" &&
add bulk --kind repository --policy "$D/sim.policy" --key "$D/web.key" --chain "$D/web.chain" &&
add webpin --kind repository --policy "$D/simpin.policy" --key "$D/web.key" --chain "$D/web.chain" \
	--pin-file "$D/pin" &&
add sign --kind repository --policy "$D/short.policy" --key "$D/web.key" --chain "$D/web.chain" \
	--pin-file "$D/pin" || { echo "not ok - credentials"; exit 1; }
# Replica b: the same directory, copied (master, approver and EAR keys, TLS).
cp -a "$BROKER_DIR" "$RIG_DIR/broker-b"
DIR_a=$BROKER_DIR DIR_b=$RIG_DIR/broker-b

replica_start() { # replica_start a|b: PID_x and URL_x
	local d
	d=$(eval echo "\$DIR_$1")
	rm -f "$d/port"
	ATTEST11_LOG=info "$BIN/attest11-broker" -d "$d" serve --port-file "$d/port" \
		>>"$RIG_DIR/broker-$1.log" 2>&1 &
	eval "PID_$1=$!"
	echo $! >>"$RIG_DIR/pids"
	for _ in $(seq 1 100); do [ -s "$d/port" ] && break; sleep 0.05; done
	[ -s "$d/port" ] || { cat "$RIG_DIR/broker-$1.log"; return 1; }
	eval "URL_$1=https://127.0.0.1:$(cat "$d/port")"
}
replica_start a && replica_start b || { echo "not ok - replicas"; exit 1; }
# race URL URL ARGS...: the driver with the simulated hosts' EK CA.
race() { local u=$1 v=$2; shift 2; "$RACE" "$u" "$v" "$BROKER_DIR/tls.crt" "$D/simca.key" "$SIM_CA/simca.pem" "$@"; }
healthz() { curl -s -o /dev/null -w '%{http_code}' --cacert "$BROKER_DIR/tls.crt" "$1/healthz"; }

ok "both replicas report the store reachable (/healthz 200)" \
	bash -c "[ $(healthz "$URL_a") = 200 ] && [ $(healthz "$URL_b") = 200 ]"

# --- any replica serves any step; a session is used once -------------------
race "$URL_a" "$URL_b" split web >"$RIG_DIR/split.out" 2>>"$RIG_DIR/race.err"
ok "challenge on a, evidence on b: released and checked" grep -qx 'split released' "$RIG_DIR/split.out"
ok "the same evidence again, at a: nonce_reused" grep -qx 'again nonce_reused' "$RIG_DIR/split.out"
race "$URL_a" "$URL_b" twice web 20 >"$RIG_DIR/twice.out" 2>>"$RIG_DIR/race.err"
ok "one evidence sent to both replicas at once, 20 rounds: released once per round" \
	grep -qx 'released 20 reused 20 other 0' "$RIG_DIR/twice.out"

# --- PIN lockout across replicas ---------------------------------------------
# pin_max_failures 3: wrong at a, wrong at b, right at a (released, the
# count starts again); wrong at b, a, b: locked; the right PIN at a then.
once() { race "$1" "$1" once webpin "$(cat "$D/$2")" 2>>"$RIG_DIR/race.err"; }
out=$(once "$URL_a" badpin; once "$URL_b" badpin)
ok "wrong PIN at a, at b: pin_incorrect twice" test "$out" = "refused pin_incorrect
refused pin_incorrect"
ok "the right PIN at a after two failures: released" test "$(once "$URL_a" pin)" = released
out=$(once "$URL_b" badpin; once "$URL_a" badpin; once "$URL_b" badpin)
ok "three wrong PINs spread over b, a, b: the third locks" test "$out" = "refused pin_incorrect
refused pin_incorrect
refused pin_locked"
ok "the right PIN at a once locked at b: pin_locked" test "$(once "$URL_a" pin)" = 'refused pin_locked'
# The race: two failures, then three wrong PINs and the right one at once
# over both replicas; in the audit chain no release follows the lock.
race_round() {
	local pids=()
	broker credential unlock webpin >/dev/null && once "$URL_a" badpin >/dev/null &&
		once "$URL_b" badpin >/dev/null
	once "$URL_a" pin >/dev/null & pids+=($!)
	once "$URL_b" badpin >/dev/null & pids+=($!)
	once "$URL_a" badpin >/dev/null & pids+=($!)
	once "$URL_b" badpin >/dev/null & pids+=($!)
	wait "${pids[@]}"
}
for _ in $(seq 1 8); do race_round; done
ok "PIN race over both replicas: no release of a locked credential, 8 rounds" \
	no_release_after_lock webpin

# --- revocation on one, renewal on the other ---------------------------------
race "$URL_a" "$URL_b" revoke web "$BIN/attest11-broker" -d "$DIR_a" lease revoke \
	>"$RIG_DIR/revoke.out" 2>>"$RIG_DIR/race.err"
ok "released at a, renewed at b" grep -qx 'renewal 1 released' "$RIG_DIR/revoke.out"
ok "revoked through a's directory: the next renewal at b is refused (lease_revoked)" \
	grep -qx 'renewal 2 lease_revoked' "$RIG_DIR/revoke.out"
ok "audit verify passes, records appended by both replicas" broker audit verify
ok "both replicas released (their request logs)" bash -c "
	grep -q 'POST /v1/evidence 200' $RIG_DIR/broker-a.log && grep -q 'POST /v1/evidence 200' $RIG_DIR/broker-b.log"

# --- a replica that dies after using the session -----------------------------
# A front that forwards to b, but drops b's answer to the evidence for a
# 502: the session is used and the release committed, as when a replica
# dies just before answering. The client fails over to b, which says
# nonce_reused, and starts the exchange again there, once.
"$RACE" "$URL_b" "$URL_b" "$BROKER_DIR/tls.crt" "$D/simca.key" "$SIM_CA/simca.pem" front \
	"$BROKER_DIR/tls.crt" "$BROKER_DIR/tls.key" "$RIG_DIR/front.port" 2>"$RIG_DIR/front.err" &
FRONT=$!; echo $FRONT >>"$RIG_DIR/pids"
for _ in $(seq 1 100); do [ -s "$RIG_DIR/front.port" ] && break; sleep 0.05; done
URL_f=https://127.0.0.1:$(cat "$RIG_DIR/front.port")
"$BIN/attest11-load" --broker "$URL_f,$URL_b" --ca "$BROKER_DIR/tls.crt" --ek-ca-key "$D/simca.key" \
	--ek-ca-cert "$SIM_CA/simca.pem" --credential web --hosts 1 --count 1 --json \
	>"$RIG_DIR/lost.json" 2>"$RIG_DIR/lost.err"; rc=$?
ok "attest11-load, evidence lost with its session: started again at b, released, no refusal" bash -c "
	[ $rc = 0 ] && grep -q '\"releases\": *1' $RIG_DIR/lost.json && grep -q '\"refusals\": *{}' $RIG_DIR/lost.json"
ok "... once" test "$(grep -c 'attesting again' "$RIG_DIR/lost.err")" = 1
ATTEST11_LOG=info "$BIN/attest11" attest --tcti "$A11_TCTI" --broker "$URL_f,$URL_b" \
	--ca "$BROKER_DIR/tls.crt" --credential sign --pin-file "$D/pin" >"$RIG_DIR/lost.out" 2>&1; rc=$?
ok "attest11 attest (the module's attester), the same: logged in at b after starting again once" bash -c "
	[ $rc = 0 ] && [ \$(grep -c 'attesting again' $RIG_DIR/lost.out) = 1 ] &&
	grep -q 'release from $URL_b' $RIG_DIR/lost.out"
kill -TERM "$FRONT"; wait "$FRONT"
ok "the front dropped two released evidences" test "$(grep -c '/v1/evidence answered 200' "$RIG_DIR/front.err")" = 2

# --- kill -9 of one replica under load ----------------------------------------
# The module signs under 6 s leases (renewed every 4 s) with both URLs in
# attest11.conf; attest11-load runs hosts against both, a first.
export ATTEST11_CONF=$RIG_DIR/attest11.conf A11_MODULE=$BIN/attest11.so
printf '{"broker": ["%s", "%s"], "ca_file": "%s", "tcti": "%s", "connect_timeout_ms": 2000, "state_dir": "", "tokens": [{"label": "sign", "credential": "sign", "key_type": "ec"}]}\n' \
	"$URL_a" "$URL_b" "$BROKER_DIR/tls.crt" "cmd:env -u LD_PRELOAD tpm2_send -T $A11_TCTI" >"$ATTEST11_CONF"
ATTEST11_LOG=info "$BIN/tests/integ/p11_lease" sign 1234 24 2 >"$RIG_DIR/sign.out" 2>"$RIG_DIR/sign.err" &
SIGN=$!; echo $SIGN >>"$RIG_DIR/pids"
CONC=4
"$BIN/attest11-load" --broker "$URL_a,$URL_b" --ca "$BROKER_DIR/tls.crt" --ek-ca-key "$D/simca.key" \
	--ek-ca-cert "$SIM_CA/simca.pem" --credential bulk --hosts 40 --concurrency $CONC --renew \
	--duration 14 --timeout-ms 30000 --json >"$RIG_DIR/load.json" \
	2>"$RIG_DIR/load.err" &
LOADER=$!; echo $LOADER >>"$RIG_DIR/pids"
sleep 6
t_kill=$(date +%s.%N)
{ kill -9 "$PID_a"; wait "$PID_a"; } 2>/dev/null
# Failover time: from the kill to the first login served (by b) of a CLI
# given both URLs, a first.
ATTEST11_LOG=info "$BIN/attest11" attest --tcti "$A11_TCTI" --broker "$URL_a,$URL_b" --ca "$BROKER_DIR/tls.crt" \
	--credential sign --pin-file "$D/pin" >"$RIG_DIR/failover.out" 2>&1; rc=$?
t_ok=$(date +%s.%N)
echo "# failover: kill -9 to the first login served by the survivor: $(echo "($t_ok - $t_kill) * 1000" | bc | cut -d. -f1) ms"
ok "a login right after the kill, both URLs given: served by b" bash -c "
	[ $rc = 0 ] && grep -q 'release from $URL_b' $RIG_DIR/failover.out"
wait "$LOADER"; load_rc=$?
wait "$SIGN"
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" "$RIG_DIR/load.json"; }
broker audit export >"$RIG_DIR/audit.jsonl"
jq -c 'select(.credential == "bulk")' "$RIG_DIR/audit.jsonl" >"$RIG_DIR/bulk.jsonl"
rel=$(jq -r 'select(.event == "release" and .code == "ok") | .lease' "$RIG_DIR/bulk.jsonl" | wc -l)
ren=$(jq -r 'select(.event == "renewal" and .code == "ok") | .lease' "$RIG_DIR/bulk.jsonl" | wc -l)
again=$(grep -c 'attesting again' "$RIG_DIR/load.err")
echo "# load: $(field releases) releases, $(field renewals) renewals reported; audit: $rel releases, $ren renewals; exchanges started again: $again"
ok "attest11-load: exit 0, no refusal, no transport or other error, every release checked" bash -c "
	[ $load_rc = 0 ] && [ '$(field transport_errors)' = 0 ] && [ '$(field other_errors)' = 0 ] &&
	[ '$(field checks_failed)' = 0 ] && [ '$(field releases)' -gt 0 ] &&
	grep -q '\"refusals\": *{}' $RIG_DIR/load.json"
ok "at most the $CONC exchanges in flight at the kill started again (the documented retry)" \
	test "$again" -le $CONC
ok "no release lost: the audit holds every release and renewal the load generator got" bash -c "
	[ $rel -ge $(field releases) ] && [ $ren -ge $(field renewals) ]"
ok "none duplicated: beyond those, at most the $CONC exchanges in flight at the kill" bash -c "
	[ $((rel + ren - $(field releases) - $(field renewals))) -le $CONC ]"
ok "no lease released twice" bash -c "
	[ -z \"\$(jq -r 'select(.event == \"release\" and .code == \"ok\") | .lease' $RIG_DIR/bulk.jsonl | sort | uniq -d)\" ]"
ok "the module signed throughout, no failed signature, renewed after the kill" bash -c "
	grep '^signatures' $RIG_DIR/sign.out | awk '\$2 > 100 && \$4 == 0 && \$6 >= 4 {ok=1} END {exit !ok}'"
ok "the module failed over to b" grep -q "served, after another failed" "$RIG_DIR/sign.err"
ok "audit verify passes after the kill" broker audit verify
ok "b serves on" bash -c "[ $(healthz "$URL_b") = 200 ]"
kill -TERM "$PID_b" 2>/dev/null && wait "$PID_b" 2>/dev/null
