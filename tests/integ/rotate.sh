#!/usr/bin/env bash
# Rotating the replicas' keys one replica at a time while the other serves
# (docs/operations.md, "Rotating keys"), two brokers on one PostgreSQL:
# the master key (a new key added as open-only everywhere, made current
# one replica at a time, `master-key rekey` while both serve, the old one
# removed), with releases before, during and after that all open; a
# replica not yet given the new key refuses by naming it; and the
# approver key: a host whose key was imported under the old approver
# renews (its approval verified by its TPM) while new logins bind to the
# new one, until the old key is retired from a replica, which then
# refuses that renewal naming the key. Simulated hosts (replica_race)
# carry an EK CA made here; the CLI uses swtpm.
. "$(dirname "$0")/../lib.sh"
. tests/rig/pg.sh
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
pg_start 2>"$RIG_DIR/pg.log" || { echo "not ok - PostgreSQL"; cat "$RIG_DIR/pg.log"; exit 1; }
trap 'pg_stop; rig_stop' EXIT
trap 'pg_stop; rig_stop; exit 130' INT TERM
RACE=$BIN/tests/integ/replica_race
D=$RIG_DIR/creds SIM_CA=$RIG_DIR/simca
mkdir -p "$D" "$SIM_CA"

broker_setup || { echo "not ok - broker setup"; exit 1; }
sim_ek_ca "$D/simca.key" "$SIM_CA/simca.pem"
make_ca "$D" && make_repo_key "$D" web ec || { echo "not ok - keys"; exit 1; }
echo 1234 >"$D/pin"
A11_EK_CA_DIR=$SIM_CA write_policy "$D/sim.policy"
write_policy "$D/tpm.policy"
DIR_a=$BROKER_DIR DIR_b=$RIG_DIR/broker-b
# conf a|b MASTER OLD-MASTERS APPROVER OLD-APPROVERS: broker.conf with the
# key files named (in the replica's directory) and the shared database.
conf() {
	local d
	d=$(eval echo "\$DIR_$1")
	printf '{"port": 0, "threads": 4, "store": "%s", "master_key": "%s/%s", "master_keys_old": [%s], "approver_key": "%s/%s", "approver_keys_old": [%s]}\n' \
		"$A11_TEST_PG" "$d" "$2" "$(paths "$d" "$3")" "$d" "$4" "$(paths "$d" "$5")" >"$d/broker.conf"
}
paths() { local f sep=; for f in $2; do printf '%s"%s/%s"' "$sep" "$1" "$f"; sep=", "; done; }
conf a master.key "" approver.pem ""
add() { "$BIN/attest11-broker" -d "$1" credential add "${@:2}" >/dev/null; }
add "$DIR_a" sim --kind repository --policy "$D/sim.policy" --key "$D/web.key" --chain "$D/web.chain" \
	--pin-file "$D/pin" &&
add "$DIR_a" sign --kind repository --policy "$D/tpm.policy" --key "$D/web.key" --chain "$D/web.chain" \
	--pin-file "$D/pin" || { echo "not ok - credentials"; exit 1; }
cp -a "$DIR_a" "$DIR_b" && conf b master.key "" approver.pem ""

replica_start() { # replica_start a|b: PID_x and URL_x (the port is kept across restarts)
	local d port
	d=$(eval echo "\$DIR_$1") port=$(cat "$d/port" 2>/dev/null)
	rm -f "$d/port"
	ATTEST11_LOG=info "$BIN/attest11-broker" -d "$d" serve ${port:+--port "$port"} \
		--port-file "$d/port" >>"$RIG_DIR/broker-$1.log" 2>&1 &
	eval "PID_$1=$!"
	echo $! >>"$RIG_DIR/pids"
	for _ in $(seq 1 100); do [ -s "$d/port" ] && break; sleep 0.05; done
	[ -s "$d/port" ] || { tail "$RIG_DIR/broker-$1.log"; return 1; }
	eval "URL_$1=https://127.0.0.1:$(cat "$d/port")"
}
replica_stop() { local p; p=$(eval echo "\$PID_$1"); kill -TERM "$p" && wait "$p"; }
# release a|b: one exchange of a simulated host with the PIN credential.
release() { "$RACE" "$(eval echo "\$URL_$1")" "$(eval echo "\$URL_$1")" "$BROKER_DIR/tls.crt" \
	"$D/simca.key" "$SIM_CA/simca.pem" once sim 1234 2>>"$RIG_DIR/race.err"; }
released_at() { [ "$(release "$1")" = released ]; }
fails() { ! "$@"; }
# restart a|b CONF-ARGS...: the other replica serves a release meanwhile.
restart() {
	local x=$1 other=b; shift
	[ "$x" = b ] && other=a
	replica_stop "$x" && conf "$x" "$@" && [ "$(release "$other")" = released ] && replica_start "$x"
}
# tpm a|b attest|renew STATE-DIR [ARGS]: the CLI with swtpm, given one replica.
tpm() { "$BIN/attest11" "$2" --tcti "$A11_TCTI" --broker "$(eval echo "\$URL_$1")" \
	--ca "$BROKER_DIR/tls.crt" --credential sign --pin-file "$D/pin" --state-dir "$3" \
	--check-sign "${@:4}" >>"$RIG_DIR/tpm.out" 2>&1; }
lease_of() { "$BIN/attest11" show --state-dir "$1" --credential sign | sed -n 's/^lease: \([0-9a-f]*\) .*/\1/p'; }
approver_of() { broker lease list | awk -v l="$1" '$1 == l { print $NF }'; }
replica_start a && replica_start b || { echo "not ok - replicas"; exit 1; }

# --- the key lists in broker.conf ----------------------------------------------
X=$RIG_DIR/scratch
cp -a "$DIR_a" "$X"
badconf() { # badconf JSON-MEMBERS MESSAGE: rekey refuses to run, naming it
	printf '{"store": "%s", %s}\n' "$A11_TEST_PG" "$1" >"$X/broker.conf"
	! "$BIN/attest11-broker" -d "$X" master-key rekey >"$X/out" 2>&1 && grep -q "$2" "$X/out"
}
ok "master_keys_old must be an array of paths" \
	badconf '"master_keys_old": "'"$X"'/master.key"' 'master_keys_old must be an array of at most 3 paths'
ok "... of at most 3" badconf '"master_keys_old": ["a", "b", "c", "d"]' 'at most 3 paths'
ok "... each key once (its id is already loaded)" \
	badconf '"master_keys_old": ["'"$X"'/master.key"]' 'is already loaded'
ok "approver_keys_old: each key once (serve refuses to start)" bash -c "
	printf '{\"store\": \"%s\", \"port\": 0, \"approver_keys_old\": [\"%s\"]}\n' '$A11_TEST_PG' '$X/approver.pem' >$X/broker.conf
	! timeout 20 $BIN/attest11-broker -d $X serve >$X/out 2>&1 && grep -q 'this approver key is already loaded' $X/out"

# --- before: releases at both, a host key imported under the first approver -
ok "before any rotation: a release at a" released_at a
ok "... and at b" released_at b
ok "a TPM host logs in at a (key imported, signs under its lease)" tpm a attest "$RIG_DIR/host1"
LEASE1=$(lease_of "$RIG_DIR/host1")
AP1=$(approver_of "$LEASE1")
ok "lease list names the lease's approver key" bash -c "[ -n '$LEASE1' ] && [ ${#AP1} = 8 ]"
# A lease from before schema 5 names no approver key: a replica's start
# binds it to its current one, the only one there was.
"$(pg_bindir)/psql" -q "$A11_TEST_PG" -c "UPDATE leases SET approver = NULL" 2>>"$RIG_DIR/pg.log"
ok "a lease of an older broker (no approver) shows none" test "$(approver_of "$LEASE1")" = -
ok "a restart of a" restart a master.key "" approver.pem ""
ok "... binds it to a's current approver key, at start" test "$(approver_of "$LEASE1")" = "$AP1"

# --- master key: rolling rotation --------------------------------------------
NEW_ID=$("$BIN/attest11-broker" -d "$DIR_a" master-key new "$DIR_a/master.new" | sed -n 's/.*, id \([0-9a-f]*\)$/\1/p')
cp -p "$DIR_a/master.new" "$DIR_b/master.new"
ok "master-key new: a key file (0600) and its id" bash -c "
	[ ${#NEW_ID} = 8 ] && [ \$(stat -c %a $DIR_a/master.new) = 600 ]"
ok "step 1 at a: the new key added to open only; b serves the restart" \
	restart a master.key master.new approver.pem ""
ok "step 2 at a: the new key current, the old one opens; b serves the restart" \
	restart a master.new master.key approver.pem ""
# The wrong order, to see the refusal: a credential sealed at a under the
# new key, released at b before b was given it.
ok "a credential added through a is sealed under the new key" \
	add "$DIR_a" late --kind repository --policy "$D/sim.policy" --key "$D/web.key" --chain "$D/web.chain"
late() { "$RACE" "$(eval echo "\$URL_$1")" "$(eval echo "\$URL_$1")" "$BROKER_DIR/tls.crt" \
	"$D/simca.key" "$SIM_CA/simca.pem" once late "" 2>>"$RIG_DIR/race.err"; }
ok "... released at a" test "$(late a)" = released
ok "b, not yet given the new key, refuses it: internal" test "$(late b)" = "refused internal"
ok "... and its log names the missing key" \
	grep -q "is under master key $NEW_ID, which this broker does not hold" "$RIG_DIR/broker-b.log"
ok "step 1 at b: the new key added to open only; a serves the restart" \
	restart b master.key master.new approver.pem ""
ok "... b now opens what a sealed under the new key" test "$(late b)" = released
ok "step 2 at b: the new key current at b too" restart b master.new master.key approver.pem ""
# rekey while both serve: releases at both all along.
( for _ in $(seq 1 10); do release a; release b; done ) >"$RIG_DIR/during.out" &
DURING=$!
ok "step 3: master-key rekey re-seals the two credentials under the old key (late already is), while both replicas serve" bash -c "
	$BIN/attest11-broker -d $DIR_a master-key rekey | tee $RIG_DIR/rekey.out |
	grep -qx 're-sealed 2 of 3 credentials; all are under master key $NEW_ID'"
wait "$DURING"
ok "... 20 releases during the rekey, none refused" bash -c "
	[ \$(grep -cx released $RIG_DIR/during.out) = 20 ] && [ \$(wc -l <$RIG_DIR/during.out) = 20 ]"
ok "a second rekey finds nothing left under another key" bash -c "
	$BIN/attest11-broker -d $DIR_b master-key rekey | grep -qx 're-sealed 0 of 3 credentials; all are under master key $NEW_ID'"
ok "step 4 at a: the old master key removed" restart a master.new "" approver.pem ""
ok "step 4 at b: the old master key removed" restart b master.new "" approver.pem ""
ok "after: a release at a (secret and PIN record open under the new key alone)" released_at a
ok "... and at b" released_at b
ok "... the TPM host's PIN credential logs in at b" tpm b attest "$RIG_DIR/host0"
ok "... the lease from before the rotation renews at a" tpm a renew "$RIG_DIR/host1"
ok "audit verify passes" broker audit verify

# --- approver key: rolling rotation ------------------------------------------
(umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$DIR_a/approver.new.pem" 2>/dev/null)
cp -p "$DIR_a/approver.new.pem" "$DIR_b/approver.new.pem"
ok "step 1 at a: the new approver key added, for renewals only" \
	restart a master.new "" approver.pem approver.new.pem
ok "step 1 at b: the same" restart b master.new "" approver.pem approver.new.pem
ok "step 2 at a: the new approver key current" restart a master.new "" approver.new.pem approver.pem
ok "step 2 at b: the new approver key current" restart b master.new "" approver.new.pem approver.pem
ok "a new login at a binds its key to the new approver key" tpm a attest "$RIG_DIR/host2"
LEASE2=$(lease_of "$RIG_DIR/host2")
AP2=$(approver_of "$LEASE2")
ok "... lease list shows another approver key for it" bash -c "[ ${#AP2} = 8 ] && [ '$AP2' != '$AP1' ]"
ok "the host whose key was imported under the old approver renews at b (its TPM verifies the approval)" \
	tpm b renew "$RIG_DIR/host1"
ok "... its lease stays bound to the old approver key" test "$(approver_of "$LEASE1")" = "$AP1"
ok "the new lease renews at b too" tpm b renew "$RIG_DIR/host2"
ok "step 3 at b: the old approver key retired" restart b master.new "" approver.new.pem ""
ok "b refuses the renewal of a lease bound to the retired key" fails tpm b renew "$RIG_DIR/host1"
ok "... naming the key in its log" \
	grep -q "the lease's approver key $AP1 is not one this broker holds" "$RIG_DIR/broker-b.log"
ok "a, which still holds it, renews it" tpm a renew "$RIG_DIR/host1"
ok "a new login at b (a re-import) binds to the new key and works" tpm b attest "$RIG_DIR/host1"
ok "... its lease is bound to the new approver key" \
	test "$(approver_of "$(lease_of "$RIG_DIR/host1")")" = "$AP2"
ok "audit verify passes, records from both replicas through both rotations" broker audit verify
replica_stop a; replica_stop b
