#!/usr/bin/env bash
# Faults (issue 12): a damaged lease file costs no dictionary-attack
# strike, fork() never waits for a renewal's or a login's network, and signing resumes
# by itself after the TPM restarts or is reset (no logout).
. "$(dirname "$0")/../lib.sh"
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
broker_setup && broker_start || { echo "not ok - broker"; exit 1; }
D=$RIG_DIR/creds
mkdir -p "$D"
make_ca "$D"
make_repo_key "$D" ec ec && make_repo_key "$D" fk ec || { echo "not ok - keys"; exit 1; }
echo 1234 >"$D/pin"
LEASE_TTL=6 write_policy "$D/short.policy"
LEASE_TTL=10 write_policy "$D/ten.policy"
add() { broker credential add "$@" >/dev/null; }
add ec --kind repository --policy "$D/short.policy" --key "$D/ec.key" --chain "$D/ec.chain" --pin-file "$D/pin" &&
add fk --kind repository --policy "$D/ten.policy" --key "$D/fk.key" --chain "$D/fk.chain" --pin-file "$D/pin" ||
	{ echo "not ok - credentials"; exit 1; }
module_setup '[{"label": "ec", "credential": "ec", "key_type": "ec"},
	{"label": "fk", "credential": "fk", "key_type": "ec"}]'
unset OPENSSL_CONF # the engine configuration is for nginx, not our programs
M=$BIN/attest11.so
S=$RIG_DIR/state
export A11_MODULE=$M
metric() { curl -sf --cacert "$BROKER_DIR/tls.crt" "$BROKER_URL/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
wait_for() { for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" && return 0; sleep 0.1; done; return 1; }
# resumed FILE LINE SECONDS: after its first LINE lines, p11_lease's report
# shows the lease renewed (a reset ends it) and signing working: the last
# change of C_Sign's result is to 0x0, or there was none (the module
# recovered between two signatures).
resumed() {
	local rest
	for _ in $(seq $(($3 * 10))); do
		rest=$(tail -n +$(($2 + 1)) "$1")
		if echo "$rest" | grep -q 'lease expires' &&
			{ ! echo "$rest" | grep -q 'sign rv='; echo "$rest" | grep 'sign rv=' | tail -n1 | grep -q 'sign rv=0x0 '; }; then
			return 0
		fi
		sleep 0.1
	done
	echo "$rest"; return 1
}

# --- a damaged salt in the lease file: re-attest, no DA strike -------------
da_failures() { tpm2_getcap -T "$A11_TCTI" properties-variable | awk '/TPM2_PT_LOCKOUT_COUNTER/ {print $2}'; }
da() { tpm2_dictionarylockout -T "$A11_TCTI" "$@" >/dev/null 2>&1; }
login() { pkcs11-tool --module "$M" --token-label ec -O --login --pin "$1" 2>&1; }
ok "a login leaves the lease in the state dir" bash -c "
	pkcs11-tool --module $M --token-label ec -O --login --pin 1234 >/dev/null 2>&1 && [ -f $S/ec.lease ]"
# Failures forgiven only after 600 s here, so that a strike stays visible.
da -s -n 1000 -t 600 -l 1 && da -c
sed -i -E 's/"salt":"A/"salt":"#/; s/"salt":"[^A#]/"salt":"A/; s/"salt":"#/"salt":"B/' "$S/ec.lease"
da0=$(da_failures) attest0=$(metric attest11_attestations_total)
login 1234 >"$RIG_DIR/salt.out"
ok "a lease file with a damaged salt: the right PIN logs in (by attesting afresh)" \
	grep -q 'Private Key Object' "$RIG_DIR/salt.out"
ok "... with one attestation" bash -c "[ \$(( $(metric attest11_attestations_total) - $attest0 )) = 1 ]"
ok "... and no dictionary-attack failure in the TPM (was $da0)" bash -c "[ \"\$(tpm2_getcap -T '$A11_TCTI' properties-variable | awk '/TPM2_PT_LOCKOUT_COUNTER/ {print \$2}')\" = '$da0' ]"
ok "the module said why it did not use the file" grep -q 'fail their check value' "$RIG_DIR/salt.out"
ok "the file holds a good lease again: the right PIN opens it, broker down" bash -c "
	kill -STOP $BROKER_PID; o=\$(pkcs11-tool --module $M --token-label ec -O --login --pin 1234 2>&1); kill -CONT $BROKER_PID
	echo \"\$o\" | grep -q 'Private Key Object'"
da -c && da -s -n 1000 -t 1 -l 1

# --- the approval's ticket in the lease file, forged ------------------------
# A login keeps the TPM's ticket for the approval in the file, so that the
# next one skips VerifySignature. One the TPM refuses (here: forged) must
# cost no attestation and no dictionary-attack strike: the module verifies
# the approval again, and writes the good ticket back.
rm -f "$S/ec.lease"
login 1234 >/dev/null
ok "a login keeps the approval's ticket in the lease file (version 2)" \
	grep -q '"version":2.*"approval_ticket":{"ticket":"' "$S/ec.lease"
t='"ticket":"[^"]{20}'
sed -i -E "s/($t)A/\1#/; s/($t)[^A#]/\1A/; s/($t)#/\1B/" "$S/ec.lease"
da0=$(da_failures) attest0=$(metric attest11_attestations_total)
login 1234 >"$RIG_DIR/ticket.out"
ok "a forged ticket: the right PIN still logs in" grep -q 'Private Key Object' "$RIG_DIR/ticket.out"
ok "... the module said the TPM refused the ticket (not that the PCRs changed)" bash -c "
	grep -q \"does not accept the approval's ticket\" $RIG_DIR/ticket.out &&
	grep -q \"ticket from the state file did not serve (tpm_policy); verifying\" $RIG_DIR/ticket.out &&
	! grep -q 'PCRs changed' $RIG_DIR/ticket.out"
ok "... without attesting" bash -c "[ \$(( $(metric attest11_attestations_total) - $attest0 )) = 0 ]"
ok "... and without a dictionary-attack failure (was $da0)" bash -c "[ \"\$(tpm2_getcap -T '$A11_TCTI' properties-variable | awk '/TPM2_PT_LOCKOUT_COUNTER/ {print \$2}')\" = '$da0' ]"
login 1234 >"$RIG_DIR/ticket2.out"
ok "the file holds a good ticket again: the next login uses it" bash -c "
	grep -q 'Private Key Object' $RIG_DIR/ticket2.out && ! grep -q 'ticket' $RIG_DIR/ticket2.out"

# --- fork() while a renewal waits for a stopped broker ----------------------
# 10 s lease: the renewal is due 6.7 s after the login; fork at 8 s.
"$BIN/tests/integ/p11_fork" fk 1234 8 20 >"$RIG_DIR/fork.out" 2>"$RIG_DIR/fork.err" &
FORK=$!
echo $FORK >>"$RIG_DIR/pids"
wait_for "$RIG_DIR/fork.out" 'logged in' 10 && kill -STOP "$BROKER_PID"
wait_for "$RIG_DIR/fork.out" 'fork ms' 30
kill -CONT "$BROKER_PID"
wait "$FORK"
ok "fork() during a renewal stuck on the broker returns at once ($(sed -n 's/^fork ms //p' "$RIG_DIR/fork.out") ms)" \
	bash -c "awk '\$1 == \"fork\" && \$3 < 1000 {ok=1} END {exit !ok}' $RIG_DIR/fork.out"
ok "the renewal completes on a new TPM connection once the broker runs again" \
	grep -qx 'renewed after fork' "$RIG_DIR/fork.out"
ok "and the key signs" grep -qx 'sign rv=0x0' "$RIG_DIR/fork.out"

# --- fork() while a login waits for a stopped broker -----------------------
# No lease file: the login attests. Once its connection to the stopped
# broker is up (the kernel accepts it; the TLS handshake waits), the
# driver forks: fork() must return while the broker is still stopped,
# before the login does (it holds the TPM only around TPM commands).
rm -f "$S/fk.lease"
mkfifo "$RIG_DIR/go"
kill -STOP "$BROKER_PID"
"$BIN/tests/integ/p11_login_fork" fk 1234 <"$RIG_DIR/go" >"$RIG_DIR/lfork.out" 2>"$RIG_DIR/lfork.err" &
LFORK=$!
echo $LFORK >>"$RIG_DIR/pids"
exec 7>"$RIG_DIR/go"
port=${BROKER_URL##*:}
on_network() { ss -tnpH state established "( dport = :$port )" | grep -q "pid=$LFORK,"; }
wait_for "$RIG_DIR/lfork.out" 'login started' 10
for _ in $(seq 100); do on_network && break; sleep 0.1; done
ok "the login is waiting for the stopped broker" on_network
# The local port of the login's HTTPS connection.
lport() { ss -tnpH state established "( dport = :$port )" | awk -v p="pid=$LFORK," 'index($0, p) {n = split($3, a, ":"); print a[n]}'; }
port1=$(lport)
(echo go >&7) 2>/dev/null # a subshell: a driver that died costs a check, not the script
wait_for "$RIG_DIR/lfork.out" '^forked' 30
stopped=$(awk '{print $3}' "/proc/$BROKER_PID/stat") # T: still stopped
kill -CONT "$BROKER_PID"
wait_for "$RIG_DIR/lfork.out" '^login rv' 30
port2=$(lport)
(echo go >&7) 2>/dev/null
exec 7>&-
wait "$LFORK"; echo "# p11_login_fork exited $?"
ok "fork() during a login stuck on the broker returns before the login, broker still stopped" \
	bash -c "[ '$stopped' = T ] && awk '/^forked/ {f=NR} /^login rv/ {l=NR} END {exit !(f && l && f < l)}' $RIG_DIR/lfork.out"
ok "the login completes once the broker runs again" grep -qx 'login rv=0x0' "$RIG_DIR/lfork.out"
ok "... starting over on a new TPM connection but its HTTPS connection (port $port1, then $port2)" \
	bash -c "[ -n '$port1' ] && [ '$port1' = '$port2' ]"
ok "and the key signs" grep -qx 'sign rv=0x0' "$RIG_DIR/lfork.out"

# --- fork() while a login's thread opens the TPM connection ---------------
# A login reads the host's lease while a thread of its own opens the TPM
# connection (docs/pkcs11.md); here through tpm2-abrmd's own TCTI, in the
# process (GLib, D-Bus), as the bench does (the cmd TCTI is opened by the
# login itself). With swtpm stopped, that opening hangs in its first
# command, holding the token's TPM lock: fork() must wait for it (no lock
# of GLib's copied held into the child, no half-open connection), never
# return while swtpm is still stopped. GLib's D-Bus worker thread
# ("gdbus") says the opening is under way. The child logs in through the
# cmd TCTI (GLib's connection does not survive fork() in a process that
# used it, tests/lib.sh).
mkfifo "$RIG_DIR/go2"
module_conf "$RIG_DIR/tabrmd.conf" "$A11_TCTI" '[{"label": "fk", "credential": "fk", "key_type": "ec"}]'
kill -STOP "$RIG_SWTPM_PID"
A11_CHILD_CONF=$RIG_DIR/attest11.conf ATTEST11_CONF=$RIG_DIR/tabrmd.conf A11_CHILD_LOGIN=1 \
	"$BIN/tests/integ/p11_login_fork" fk 1234 <"$RIG_DIR/go2" >"$RIG_DIR/ofork.out" 2>"$RIG_DIR/ofork.err" &
OFORK=$!
echo $OFORK >>"$RIG_DIR/pids"
exec 7>"$RIG_DIR/go2"
opening() { cat /proc/"$OFORK"/task/*/comm 2>/dev/null | grep -qx gdbus; }
wait_for "$RIG_DIR/ofork.out" 'login started' 10
for _ in $(seq 100); do opening && break; sleep 0.1; done
ok "the login's thread is opening the TPM connection, swtpm stopped" opening
(echo go >&7) 2>/dev/null
wait_for "$RIG_DIR/ofork.out" '^forked' 3 # it must not: fork() waits for the opening
early=$(grep -c '^forked' "$RIG_DIR/ofork.out")
kill -CONT "$RIG_SWTPM_PID"
wait_for "$RIG_DIR/ofork.out" '^login rv' 30
(echo go >&7) 2>/dev/null
exec 7>&-
wait "$OFORK"; echo "# p11_login_fork (opening) exited $?"
ok "fork() during the opening of the TPM connection waits for it (forked while swtpm stopped: $early)" \
	[ "$early" = 0 ]
ok "the login completes" grep -qx 'login rv=0x0' "$RIG_DIR/ofork.out"
ok "the child logs in afresh and signs" grep -qx 'child status=0' "$RIG_DIR/ofork.out"
ok "and the parent's key signs" grep -qx 'sign rv=0x0' "$RIG_DIR/ofork.out"

# --- a TPM out of reach: the same answer and the one log line as ever ------
BAD=$RIG_DIR/bad-tcti.conf
module_conf "$BAD" "swtpm:host=127.0.0.1,port=1" '[{"label": "ec", "credential": "ec", "key_type": "ec"}]'
ATTEST11_CONF=$BAD pkcs11-tool --module "$M" --token-label ec -O --login --pin 1234 >"$RIG_DIR/bad.out" 2>&1
ok "a TCTI that cannot open: C_Login answers CKR_DEVICE_ERROR" grep -q 'C_Login failed: rv = CKR_DEVICE_ERROR' "$RIG_DIR/bad.out"
ok "... and the log says so, once, and nothing of the lease file" bash -c "
	[ \$(grep -c 'cannot open the TPM at swtpm:host=127.0.0.1,port=1' $RIG_DIR/bad.out) = 1 ] &&
	! grep -qi 'lease\\|state file' $RIG_DIR/bad.out"

# --- the TPM restarts, then is reset, under a signing process --------------
rm -f "$S/ec.lease"
"$BIN/tests/integ/p11_lease" ec 1234 90 2 >"$RIG_DIR/sign.out" 2>"$RIG_DIR/sign.err" &
SIGN=$!
echo $SIGN >>"$RIG_DIR/pids"
wait_for "$RIG_DIR/sign.out" 'lease expires' 10
sleep 1
mark=$(wc -l <"$RIG_DIR/sign.out")
rig_swtpm_restart
ok "swtpm restarted (a TPM Reset): signing resumes by itself within 30 s, no logout" \
	resumed "$RIG_DIR/sign.out" "$mark" 30
sleep 2
mark=$(wc -l <"$RIG_DIR/sign.out")
swtpm_ioctl --tcp "127.0.0.1:$((RIG_SWTPM_PORT + 1))" -i >/dev/null &&
	tpm2_startup -c -T "$A11_TCTI" >/dev/null 2>&1
ok "TPM_Init + TPM2_Startup(CLEAR) (a reset in place): signing resumes within 30 s" \
	resumed "$RIG_DIR/sign.out" "$mark" 30
ok "the module said it reconnected" grep -q 'reconnecting and loading the key again' "$RIG_DIR/sign.err"
kill "$SIGN" 2>/dev/null; wait "$SIGN" 2>/dev/null
if [ -n "${A11_KEEP:-}" ]; then cp -r "$RIG_DIR" "$A11_KEEP"; fi # for a post-mortem
