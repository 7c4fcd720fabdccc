# shellcheck shell=bash
# Helpers for integration scripts: TAP-style checks and a private broker.
#   . tests/lib.sh
#   ok "description" command...           passes if the command exits 0
#   refused CODE "description" command...  passes if it prints "refused: CODE"
#   broker_setup; broker_start; broker_stop
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
. tests/rig/rig.sh
O=${O:-build/std}
BIN=$PWD/$O
export TSS2_LOG=${TSS2_LOG:-all+none}

ok() {
	local what=$1; shift
	if "$@" >"$RIG_DIR/last.out" 2>&1; then
		echo "ok - $what"
	else
		echo "not ok - $what"; sed 's/^/#   /' "$RIG_DIR/last.out" | tail -n 20
	fi
}

# refused CODE "what" cmd...: the command must fail and name CODE.
refused() {
	local code=$1 what=$2; shift 2
	if ! "$@" >"$RIG_DIR/last.out" 2>&1 && grep -q "refused: $code:" "$RIG_DIR/last.out"; then
		echo "ok - $what ($code)"
	else
		echo "not ok - $what (wanted $code)"; sed 's/^/#   /' "$RIG_DIR/last.out" | tail -n 20
	fi
}

# A broker directory with keys, a TLS certificate for 127.0.0.1 and a
# scrypt cost low enough for tests (the default is in broker.conf docs).
broker_setup() {
	BROKER_DIR=$RIG_DIR/broker
	"$BIN/attest11-broker" -d "$BROKER_DIR" init >/dev/null || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=attest11-test-broker -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$BROKER_DIR/tls.key" -out "$BROKER_DIR/tls.crt" 2>/dev/null || return 1
	printf '{"port": 0, "pin_scrypt_log2n": 10, "threads": 4, "nonce_ttl": 5}\n' >"$BROKER_DIR/broker.conf"
	export BROKER_DIR
}

broker() { "$BIN/attest11-broker" -d "$BROKER_DIR" "$@"; }

broker_start() {
	rm -f "$BROKER_DIR/port"
	ATTEST11_LOG=info "$BIN/attest11-broker" -d "$BROKER_DIR" serve \
		--port-file "$BROKER_DIR/port" >>"$RIG_DIR/broker.log" 2>&1 &
	BROKER_PID=$!
	echo "$BROKER_PID" >>"$RIG_DIR/pids"
	for _ in $(seq 1 100); do
		[ -s "$BROKER_DIR/port" ] && break
		sleep 0.05
	done
	[ -s "$BROKER_DIR/port" ] || { echo "# broker did not start"; cat "$RIG_DIR/broker.log"; return 1; }
	BROKER_URL=https://127.0.0.1:$(cat "$BROKER_DIR/port")
	export BROKER_URL
}

broker_stop() {
	kill -TERM "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
}

# attest NAME [args...]: the CLI against this rig and broker.
attest() {
	local name=$1; shift
	"$BIN/attest11" attest --tcti "$A11_TCTI" --broker "$BROKER_URL" \
		--ca "$BROKER_DIR/tls.crt" --credential "$name" "$@"
}
