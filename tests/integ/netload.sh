#!/usr/bin/env bash
# The module's HTTPS client is attest11-net.so, loaded from beside
# attest11.so only when the broker must be reached (docs/pkcs11.md, "The
# network object"): a login on a cached host lease maps no libcurl, an
# attesting one does; a missing net object, or one of another ABI, is
# CKR_DEVICE_ERROR with a log line naming the file.
. "$(dirname "$0")/../lib.sh"
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
broker_setup && broker_start || { echo "not ok - broker"; exit 1; }
D=$RIG_DIR/creds
mkdir -p "$D"
make_ca "$D" && make_repo_key "$D" ec ec || { echo "not ok - keys"; exit 1; }
echo 1234 >"$D/pin"
write_policy "$D/policy"
broker credential add ec --kind repository --policy "$D/policy" --key "$D/ec.key" --chain "$D/ec.chain" \
	--pin-file "$D/pin" >/dev/null || { echo "not ok - credential"; exit 1; }
TOKENS='[{"label": "ec", "credential": "ec", "key_type": "ec"}]'
module_setup "$TOKENS"
unset OPENSSL_CONF
# login NAME SO [CONF]: p11_netload's report and exit code in
# $RIG_DIR/NAME.out (under SANITIZE=1 a leak or error makes it non-zero),
# its log in .err
login() {
	ATTEST11_CONF=${3:-$ATTEST11_CONF} A11_MODULE=$2 "$BIN/tests/integ/p11_netload" 1234 \
		>"$RIG_DIR/$1.out" 2>"$RIG_DIR/$1.err"
	echo "exit $?" >>"$RIG_DIR/$1.out"
}
says() { grep -qx "$2" "$RIG_DIR/$1.out"; }
M=$BIN/attest11.so

ok "attest11.so itself links no libcurl" bash -c "! ldd $M | grep -q libcurl"
login attest "$M"
ok "an attesting login succeeds" says attest "login rv=0x0"
ok "an attesting login loads attest11-net.so" says attest "net yes"
ok "an attesting login loads libcurl" says attest "curl yes"
ok "... and its process ends cleanly" says attest "exit 0"
login cached "$M"
ok "a login on the host's cached lease succeeds" says cached "login rv=0x0"
ok "a login on the cached lease loads no attest11-net.so" says cached "net no"
ok "a login on the cached lease loads no libcurl" says cached "curl no"
ok "... and its process ends cleanly" says cached "exit 0"

# Without the state dir every login attests: the module alone in a directory.
NOSTATE=$RIG_DIR/nostate.conf
MODULE_STATE_DIR= module_conf "$NOSTATE" "$A11_TCTI" "$TOKENS"
mkdir -p "$RIG_DIR/alone" "$RIG_DIR/abi"
cp "$M" "$RIG_DIR/alone/attest11.so" && cp "$M" "$RIG_DIR/abi/attest11.so"
login missing "$RIG_DIR/alone/attest11.so" "$NOSTATE"
ok "no attest11-net.so beside the module: CKR_DEVICE_ERROR" says missing "login rv=0x30"
ok "... the process ends cleanly" says missing "exit 0"
ok "... and the log names the file" grep -q "cannot load $RIG_DIR/alone/attest11-net.so" "$RIG_DIR/missing.err"
cc -shared -fPIC -O2 $(pkg-config --cflags tss2-esys) -o "$RIG_DIR/abi/attest11-net.so" tests/rig/net_wrong_abi.c
login abi "$RIG_DIR/abi/attest11.so" "$NOSTATE"
ok "an attest11-net.so of another ABI: CKR_DEVICE_ERROR" says abi "login rv=0x30"
ok "... and the log names the file" grep -q "$RIG_DIR/abi/attest11-net.so is not the HTTPS client" "$RIG_DIR/abi.err"
