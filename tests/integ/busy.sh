#!/usr/bin/env bash
# The broker under pressure it must refuse rather than sink under
# (docs/operations.md, "Admission control and a busy database"):
#  (a) another process (the sqlite3 shell) holds the database's write lock
#      until the hosts have met it: /healthz answers, saying degraded, and
#      their requests are refused as store_busy (503, Retry-After) or
#      served, never left hanging: a load run retries them and every
#      release checks once the lock is gone;
#  (b) max_pending 2 and a spike of 30 hosts: challenges past the bound are
#      refused as busy and all succeed when retried; the audit chain
#      verifies afterwards and holds one release per release.
# Simulated hosts (attest11-load), so no swtpm. No timing is asserted.
. "$(dirname "$0")/../lib.sh"
load_rig busy '{"port": 0, "threads": 4, "nonce_ttl": 30, "max_pending": 2}' ||
	{ echo "not ok - broker"; exit 1; }
echo 4321 >"$D/pin"
head -c 300 /dev/urandom | base64 -w0 >"$D/token"
write_policy "$D/policy"
ok "add token credential" broker credential add tok --kind token \
	--policy "$D/policy" --token "$D/token" --pin-file "$D/pin"

load() {
	local name=$1; shift
	"$LOAD" --broker "$BROKER_URL" --ca "$BROKER_DIR/tls.crt" --ek-ca-key "$D/ekca.key" \
		--ek-ca-cert "$A11_EK_CA_DIR/ekca.pem" --credential tok --pin-file "$D/pin" \
		--timeout-ms 30000 --json "$@" >"$RIG_DIR/$name.json"
}
healthz() { curl -sS --max-time 30 --cacert "$BROKER_DIR/tls.crt" -o "$RIG_DIR/healthz" \
	-w '%{http_code}' "$BROKER_URL/healthz"; }

# ---- (a) the database write-locked by another process -------------------
ok "healthy before" test "$(healthz)" = 200
# The lock is taken before the shell's .shell runs, and kept until the
# hosts have met it (no timing: $RIG_DIR/unlock ends it; 90 s at most).
sqlite3 "$BROKER_DIR/broker.db" 'BEGIN IMMEDIATE;' \
	".shell i=0; while [ ! -e '$RIG_DIR/unlock' ] && [ \$i -lt 900 ]; do sleep 0.1; i=\$((i+1)); done" \
	'ROLLBACK;' &
echo $! >>"$RIG_DIR/pids"
for _ in $(seq 1 200); do
	[ "$(healthz)" = 503 ] && break
	sleep 0.1
done
ok "/healthz answers while the database is locked, and says degraded" \
	grep -q '^degraded' "$RIG_DIR/healthz"
load locked --hosts 6 --concurrency 3 --count 6 &
loader=$!
for _ in $(seq 1 600); do
	grep -q 'POST /v1/challenge 503 store_busy' "$RIG_DIR/broker.log" && break
	sleep 0.1
done
ok "/healthz still answers, degraded, while hosts wait" \
	bash -c "[ \"\$(curl -s --max-time 30 --cacert '$BROKER_DIR/tls.crt' '$BROKER_URL/healthz')\" = \
		'degraded: database write-locked by another process' ]"
touch "$RIG_DIR/unlock"
wait "$loader"; rc=$?
ok "hosts attest while it is locked: refused as store_busy, retried, all served" test "$rc" = 0
ok "locked: every release checked, no error, no refusal left" clean locked 6
ok "locked: requests were refused as store_busy and retried" \
	test "$(field locked retried_after_503)" -gt 0
ok "the broker logged the busy database" grep -q 'store_busy' "$RIG_DIR/broker.log"
for _ in $(seq 1 300); do
	[ "$(healthz)" = 200 ] && break
	sleep 0.1
done
ok "/healthz is ok again once the lock is gone" grep -qx ok "$RIG_DIR/healthz"

# ---- (b) more hosts at once than max_pending -----------------------------
ok "spike: 30 hosts, max_pending 2" load spike --hosts 30 --mode spike --new-connections
ok "spike: every release checked, no error, no refusal left" clean spike 30
ok "spike: challenges were refused as busy and retried" \
	test "$(field spike retried_after_503)" -gt 0
ok "the broker logged the busy refusals" grep -q 'challenge refused: busy' "$RIG_DIR/broker.log"

broker audit export >"$RIG_DIR/audit.jsonl"
ok "audit verify passes" broker audit verify
ok "one release record per release reported" test "$(grep -c '"event":"release"' \
	"$RIG_DIR/audit.jsonl")" = "$(( $(field locked releases) + $(field spike releases) ))"
ok "no refusal in the audit log" bash -c "! grep -q '\"event\":\"refusal\"' '$RIG_DIR/audit.jsonl'"
