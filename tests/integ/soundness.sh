#!/usr/bin/env bash
# Release soundness against the real broker and swtpm: releases that must
# never happen (a renewal certifying another key, a locked credential
# renewing, a policy tightened mid-exchange), the PIN lockout race, one
# TPM attesting many times at once, and a broker killed under load that
# keeps every release with its audit record.
. "$(dirname "$0")/../lib.sh"
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
broker_setup || { echo "not ok - broker setup"; exit 1; }
D=$RIG_DIR/creds
mkdir -p "$D"
make_ca "$D" && make_repo_key "$D" web ec || { echo "not ok - keys"; exit 1; }
echo 123456 >"$D/pin"; echo 654321 >"$D/badpin"
write_policy "$D/p.json"
write_policy "$D/mint.json" ', "workload_id": "spiffe://test.example/mint"'
write_policy "$D/ca-pin.json" ', "workload_id": "spiffe://test.example/pin", "pin_max_failures": 1'
write_policy "$D/webpin.json" ', "pin_max_failures": 3'
write_policy "$D/none.json" ", \"ek_allow\": [\"$(printf '0%.0s' $(seq 64))\"]"
broker credential add web --kind repository --policy "$D/p.json" --key "$D/web.key" --chain "$D/web.chain" &&
broker credential add tight --kind repository --policy "$D/p.json" --key "$D/web.key" --chain "$D/web.chain" &&
broker credential add webpin --kind repository --policy "$D/webpin.json" --key "$D/web.key" \
	--chain "$D/web.chain" --pin-file "$D/pin" &&
broker credential add mint --kind ca --policy "$D/mint.json" --key "$D/ca.key" --chain "$D/ca.crt" &&
broker credential add ca-pin --kind ca --policy "$D/ca-pin.json" --key "$D/ca.key" --chain "$D/ca.crt" \
	--pin-file "$D/pin" >/dev/null || { echo "not ok - credentials"; exit 1; }
broker_start || { echo "not ok - broker start"; exit 1; }
port=$(cat "$BROKER_DIR/port")

# --- forged exchanges that must not be released (C client, real TPM) ------
CMOCKA_MESSAGE_OUTPUT=TAP BROKER_URL=$BROKER_URL BROKER_CA=$BROKER_DIR/tls.crt PIN=123456 \
	BROKER_ADMIN="$BIN/attest11-broker -d $BROKER_DIR" ALLOW_NONE=$D/none.json \
	"$BIN/tests/integ/broker_soundness" 2>"$RIG_DIR/soundness.err" | grep -E '^(not )?ok |^#'

# --- one TPM, many exchanges at once ---------------------------------------
# Quotes of concurrent sessions reach the broker in any order; none of them
# is a replay.
# (A bare `wait` would wait for the rig's services too: wait names PIDs.)
burst() { # burst N-PARALLEL N-EACH CREDENTIAL [args]: failures on stdout
	local par=$1 each=$2 pids=()
	shift 2
	for _ in $(seq 1 "$par"); do
		(for _ in $(seq 1 "$each"); do attest "$@" >/dev/null 2>>"$RIG_DIR/burst.err" || echo x; done \
			>>"$RIG_DIR/burst.fail") &
		pids+=($!)
	done
	wait "${pids[@]}"
	wc -l <"$RIG_DIR/burst.fail"
}
: >"$RIG_DIR/burst.fail"
ok "40 attestations of one TPM, 4 at a time: all released" bash -c "[ $(burst 4 10 web) = 0 ]"
ok "none refused as a replay" bash -c "! grep -q tpm_reboot_replay $RIG_DIR/burst.err"

# --- the PIN lockout race ----------------------------------------------------
# Two failures counted of three; then three wrong PINs and the right one at
# once. The right one may be released only before the lock: in the audit
# chain no release of webpin follows the verdict that locked it.
race_round() {
	broker credential unlock webpin &&
	attest webpin --pin-file "$D/badpin" >/dev/null 2>&1
	attest webpin --pin-file "$D/badpin" >/dev/null 2>&1
	local pids=()
	for p in pin badpin badpin badpin; do attest webpin --pin-file "$D/$p" >/dev/null 2>&1 & pids+=($!); done
	wait "${pids[@]}"
}
for _ in $(seq 1 12); do race_round; done
# Per round: two failures, then the race.
ok "PIN race: no release of a locked credential, 12 rounds" no_release_after_lock webpin
refused pin_locked "PIN race: the last round ended locked" attest webpin --pin-file "$D/pin"

# --- kill -9 under load ------------------------------------------------------
# Three clients attest in a loop while the broker is killed and restarted;
# every lease it ever stored has its release record, and the chain verifies.
load() { while [ ! -e "$RIG_DIR/stop" ]; do attest web >/dev/null 2>&1; done; }
loaders=()
for _ in 1 2 3; do load & loaders+=($!); echo $! >>"$RIG_DIR/pids"; done
kills=0
for _ in $(seq 1 12); do
	sleep "0.$((RANDOM % 6 + 2))"
	kill -9 "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
	kills=$((kills + 1))
	broker_start "$port" >/dev/null || break
done
sleep 1
touch "$RIG_DIR/stop"; wait "${loaders[@]}"
ok "the broker was killed 12 times under load" test "$kills" = 12
ok "every stored lease has its release record" bash -c "
	$BIN/attest11-broker -d $BROKER_DIR lease list | awk '{print \$1}' | sort >$RIG_DIR/leases &&
	$BIN/attest11-broker -d $BROKER_DIR audit export |
		jq -r 'select(.event == \"release\" and .code == \"ok\") | .lease' | sort >$RIG_DIR/released &&
	[ -s $RIG_DIR/leases ] && [ -z \"\$(comm -23 $RIG_DIR/leases $RIG_DIR/released)\" ]"
ok "and every release record its lease" bash -c "[ -z \"\$(comm -13 $RIG_DIR/leases $RIG_DIR/released)\" ]"
ok "audit chain verifies" broker audit verify
ok "the broker serves after it all" attest web
broker_stop
