#!/usr/bin/env bash
# attest11 cert: the certificate of a lease in the state directory as a PEM
# file, rewritten (and the hook run) only when it changes; --watch follows
# a new lease within seconds and stops cleanly on SIGTERM. No TPM: the
# leases come from tests/integ/state_fixture.c.
. "$(dirname "$0")/../lib.sh"
R=$(mktemp -d "${TMPDIR:-/tmp}/attest11-cert.XXXXXX")
RIG_DIR=$R # where the ok helper keeps command output
WATCH_PIDS=()
cleanup() {
	for p in "${WATCH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$R"
}
trap cleanup EXIT
S=$R/state
FIX=$BIN/tests/integ/state_fixture
mkdir -p "$R/out"

# Throwaway certificates: a CA, and two leaves it signed.
make_ca "$R" && make_repo_key "$R" leaf1 ec && make_repo_key "$R" leaf2 ec ||
	{ echo "not ok - certificates"; exit 1; }
printf '{"broker": "https://127.0.0.1:1", "ca_file": "%s", "state_dir": "%s", "tokens": [
	{"label": "web", "credential": "web-cred"},
	{"label": "tok", "credential": "tok-cred"},
	{"label": "later", "credential": "later-cred"}]}\n' "$R/ca.crt" "$S" >"$R/attest11.conf"
CERT="$BIN/attest11 cert --conf $R/attest11.conf" # paths from mktemp: no spaces
runs() { echo "[ \"\$(cat $1 2>/dev/null | wc -l)\" = $2 ]"; } # runs FILE N: a test for bash -c
# until SECONDS CMD...: poll CMD every 0.1 s
until_ok() { local n=$(($1 * 10)); shift; for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done; return 1; }

# --- nothing to copy yet --------------------------------------------------
ok "no lease yet: exit 1 and says so" bash -c \
	"! $CERT --token web --out $R/out/web.crt 2>$R/err &&
	 grep -q 'no certificate for token web yet: no release has reached this host (log in once)' $R/err &&
	 [ ! -e $R/out/web.crt ]"
ok "unknown token label: exit 1 naming it" bash -c \
	"$CERT --token nosuch --out $R/out/x.crt 2>$R/err;
	 [ \$? = 1 ] && grep -q 'no token labelled nosuch' $R/err"
ok "usage errors exit 2" bash -c \
	"\"$BIN/attest11\" cert --token web 2>/dev/null; [ \$? = 2 ] &&
	 { \"$BIN/attest11\" cert --token web --out x --interval 0 2>/dev/null; [ \$? = 2 ]; }"
"$FIX" "$S" tok-cred >/dev/null
ok "a lease without certificates (token kind): exit 1 and says so" bash -c \
	"! $CERT --token tok --out $R/out/tok.crt 2>$R/err &&
	 grep -q 'no certificate for token tok yet' $R/err"

# --- one shot -------------------------------------------------------------
"$FIX" "$S" web-cred "$R/leaf1.crt" "$R/ca.crt"
ok "one shot writes the leaf" bash -c \
	"$CERT --token web --out $R/out/web.crt && cmp -s $R/out/web.crt <(openssl x509 -in $R/leaf1.crt)"
ok "written 0644, no temporary file left" bash -c \
	"[ \$(stat -c %a $R/out/web.crt) = 644 ] && [ \$(ls -A $R/out | wc -l) = 1 ]"
ok "--chain writes leaf then CA" bash -c \
	"$CERT --token web --chain --out $R/out/chain.crt &&
	 cmp -s $R/out/chain.crt <(openssl x509 -in $R/leaf1.crt; openssl x509 -in $R/ca.crt)"
before=$(stat -c '%i %y' "$R/out/web.crt")
ok "same lease again: exit 0" $CERT --token web --out "$R/out/web.crt" --on-change "echo ran >>$R/hook1"
ok "... file not rewritten, hook not run" bash -c \
	"[ \"\$(stat -c '%i %y' $R/out/web.crt)\" = '$before' ] && [ ! -e $R/hook1 ]"
"$FIX" "$S" web-cred "$R/leaf2.crt" "$R/ca.crt"
ok "new certificate: file replaced" bash -c \
	"$CERT --token web --out $R/out/web.crt --on-change 'echo ran >>$R/hook1' >/dev/null &&
	 cmp -s $R/out/web.crt <(openssl x509 -in $R/leaf2.crt)"
ok "... and the hook ran exactly once" bash -c "$(runs "$R/hook1" 1)"
"$FIX" "$S" web-cred "$R/leaf1.crt"
ok "a failing hook: file written, exit 1 with its status" bash -c \
	"$CERT --token web --out $R/out/web.crt --on-change 'exit 3' >/dev/null 2>$R/err; [ \$? = 1 ] &&
	 grep -q 'status 3' $R/err && cmp -s $R/out/web.crt <(openssl x509 -in $R/leaf1.crt)"

# --- --watch ----------------------------------------------------------------
# --interval 60: a change seen within seconds came from inotify.
$CERT --token web --out "$R/out/watch.crt" --chain --watch --interval 60 \
	--on-change "echo ran >>$R/hook2" >"$R/watch.log" 2>&1 &
W=$!
WATCH_PIDS+=("$W")
ok "--watch writes the current chain at start" until_ok 5 bash -c \
	"cmp -s $R/out/watch.crt <(openssl x509 -in $R/leaf1.crt) && [ -s $R/hook2 ]"
"$FIX" "$S" web-cred "$R/leaf2.crt" "$R/ca.crt"
ok "--watch follows a new lease within seconds" until_ok 5 bash -c \
	"cmp -s $R/out/watch.crt <(openssl x509 -in $R/leaf2.crt; openssl x509 -in $R/ca.crt)"
ok "... hook ran once per change (2)" until_ok 2 bash -c "$(runs "$R/hook2" 2)"
"$FIX" "$S" other-cred "$R/leaf1.crt"
sleep 0.3
ok "another credential's lease changes nothing" bash -c "$(runs "$R/hook2" 2)"
kill -TERM "$W"
wait "$W"; rc=$?
WATCH_PIDS=()
ok "SIGTERM: exits 0 (got $rc)" test "$rc" = 0
ok "... and is gone" bash -c "! kill -0 $W 2>/dev/null"

$CERT --token later --out "$R/out/later.crt" --watch --interval 60 >"$R/later.log" 2>&1 &
W=$!
WATCH_PIDS+=("$W")
ok "--watch without a lease says it waits" until_ok 5 grep -q 'no certificate for token later yet' "$R/later.log"
"$FIX" "$S" later-cred "$R/leaf2.crt"
ok "... and writes the first lease when it comes" until_ok 5 bash -c \
	"cmp -s $R/out/later.crt <(openssl x509 -in $R/leaf2.crt)"
kill -INT "$W"
wait "$W"; rc=$?
WATCH_PIDS=()
ok "SIGINT: exits 0 (got $rc)" test "$rc" = 0
