#!/usr/bin/env bash
# Measured-boot event logs end to end: each real log of tests/data/eventlogs
# is "booted" into a fresh swtpm (tpm2_pcrextend of every event's SHA-256
# digest, from tpm2_eventlog's reading of the log), its policy derived with
# `attest11-broker policy from-eventlog`, and the CLI attests with the log
# to a real broker: a release, with the EAR's tiers affirming. The TPM's
# PCRs then equal tpm2_eventlog's replay (an independent parser), and the
# release says the broker's replay equalled the quoted PCRs. Refusals: a
# flipped digest byte, another machine's log, an event removed, secure boot
# off when required, a boot application not allowed, no log at all; each
# names its PCR or event, and the broker's log the EAR tier that says why.
. "$(dirname "$0")/../lib.sh"
# Through tpm2-abrmd, which flushes what a refused exchange leaves loaded.
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
broker_setup || { echo "not ok - broker setup"; exit 1; }
D=$RIG_DIR/ev
LOGS=tests/data/eventlogs
mkdir -p "$D"
make_ca "$D" && make_repo_key "$D" web ec || { echo "not ok - keys"; exit 1; }

# pcrs_match LOG: the TPM's SHA-256 PCRs 0-9 and 14 are tpm2_eventlog's
# replay of LOG (those it names; the rest are still zero).
pcrs_match() {
	local want got n v
	want=$(tpm2_eventlog "$1" 2>/dev/null | awk '/^pcrs:/ { p = 1 } p && /^  [a-z0-9_]+:$/ { b = $1 }
		p && b == "sha256:" && $2 == ":" && ($1 <= 9 || $1 == 14) { print $1, tolower(substr($3, 3)) }')
	got=$(tpm2_pcrread -T "$A11_TCTI" sha256:0,1,2,3,4,5,6,7,8,9,14 |
		sed -n 's/^ *\([0-9]*\) *: 0x\(.*\)/\1 \2/p' | tr A-F a-f)
	[ -n "$want" ] && while read -r n v; do
		echo "$got" | grep -qx "$n $v" || { echo "PCR $n: TPM has $(echo "$got" | grep "^$n "), log $v"; return 1; }
	done <<<"$want"
}

# credential NAME LOG [JQ-FILTER]: a credential whose policy is the
# fragment from-eventlog derives from LOG, edited by the filter.
credential() {
	"$BIN/attest11-broker" policy from-eventlog "$2" 2>"$D/$1.review" |
		jq --arg ca "$A11_EK_CA_DIR" ". + {ek_ca: \$ca, lease_ttl: 600} | ${3:-.}" >"$D/$1.policy" &&
		broker credential add "$1" --kind repository --policy "$D/$1.policy" \
			--key "$D/web.key" --chain "$D/web.chain"
}

# tier CLAIM FILE: the EAR's claim, from the CLI's verdict line in FILE.
tier() { sed -n "s/^verdict: .*[(, ]$1=\([0-9]*\).*/\1/p" "$2"; }
# said FILE: what the last check printed, kept (the next check overwrites it).
said() { cp "$RIG_DIR/last.out" "$D/$1"; }
# fails_saying TEXT CMD...: CMD fails and prints TEXT.
fails_saying() { local t=$1; shift; ! "$@" >"$D/o" 2>&1 && grep -q -- "$t" "$D/o"; }

for f in "$LOGS"/*.bin; do
	n=$(basename "$f" .bin)
	ok "$n: policy derived with from-eventlog" credential "$n" "$f"
done
ok "from-eventlog shows the events behind each entry, for review" \
	grep -q 'boot application: event 23 PCR 4 40d6cae0.*shimx64.efi' "$D/rhel8-uefi.review"
broker_start || { echo "not ok - broker start"; exit 1; }

for f in "$LOGS"/*.bin; do
	n=$(basename "$f" .bin)
	ok "$n: booted into a fresh swtpm" evlog_boot "$f"
	ok "$n: the TPM's PCRs 0-9, 14 are tpm2_eventlog's replay" pcrs_match "$f"
	ok "$n: released: the broker's replay equals the quoted PCRs, every rule holds" \
		attest "$n" --eventlog "$f"
	said "$n.out"
	ok "$n: the EAR's executables claim affirms (boot applications allowed)" \
		test "$(tier executables "$D/$n.out")" = 2
done
ok "rhel8: secure boot and dbx hold: the hardware claim affirms" \
	test "$(tier hardware "$D/rhel8-uefi.out")" = 2
ok "cos: kernel command line allowed: the configuration claim affirms" \
	test "$(tier configuration "$D/cos-101-amd-sev.out")" = 2

# --- refusals, on a host booted from the RHEL log ---------------------------
RHEL=$LOGS/rhel8-uefi.bin
evlog_boot "$RHEL" >/dev/null 2>&1
# One byte of the SHA-256 digest of event 23 (shim's load) flipped.
read -r _ off _ pcr _ sha < <(evlog_events "$RHEL" | awk '$1 == 23')
at=$(od -An -v -tx1 "$RHEL" | tr -d ' \n' | grep -bo "$sha" | head -n1 | cut -d: -f1)
cp "$RHEL" "$D/flipped.bin"
printf "$(printf '\\%03o' $((0x${sha:0:2} ^ 1)))" |
	dd of="$D/flipped.bin" bs=1 seek=$((at / 2)) conv=notrunc 2>/dev/null
ok "the flipped byte is inside event 23's record" test $((at / 2)) -gt "$off"
refused eventlog_mismatch "one flipped digest byte" attest rhel8-uefi --eventlog "$D/flipped.bin"
said r.out
ok "... naming the bank and the PCR" grep -q "bank sha256 PCR $pcr" "$D/r.out"
refused eventlog_mismatch "a log from another machine" attest rhel8-uefi --eventlog "$LOGS/cos-101-amd-sev.bin"
# Event 26 (grub's load) cut out of the log.
read -r _ off len _ < <(evlog_events "$RHEL" | awk '$1 == 26')
{ head -c "$off" "$RHEL"; tail -c +$((off + len + 1)) "$RHEL"; } >"$D/removed.bin"
ok "the log without event 26 still parses (one record shorter)" \
	test "$(evlog_events "$D/removed.bin" | wc -l)" = $(($(evlog_events "$RHEL" | wc -l) - 1))
refused eventlog_mismatch "an event removed" attest rhel8-uefi --eventlog "$D/removed.bin"
said r.out
ok "... naming PCR 4" grep -q 'bank sha256 PCR 4' "$D/r.out"
ok "the broker's log: the EAR's executables claim failed verification (99)" \
	grep -q 'eventlog_mismatch: bank sha256 PCR 4.*EAR executables=99' "$RIG_DIR/broker.log"
ok "a policy allowing every boot application but grub" \
	credential no-grub "$RHEL" '.eventlog.boot_applications |= map(select(startswith("e8a268c4") | not))'
refused eventlog_policy "a boot application not in the allow-list" attest no-grub --eventlog "$RHEL"
said r.out
ok "... naming the event, its PCR and type, and the rule" grep -q \
	'PCR 4 event 26 EV_EFI_BOOT_SERVICES_APPLICATION: digest e8a268c4... (.*grubx64.efi) not allowed (rule boot_applications)' \
	"$D/r.out"
ok "the broker's log: executables contraindicated (96), the rest affirming" \
	grep -q 'rule boot_applications); EAR executables=96 configuration=2 hardware=2' "$RIG_DIR/broker.log"
refused eventlog_required "no event log, the policy needs one" attest rhel8-uefi --eventlog "$D/none.bin"
said r.out
ok "the CLI says it had none to send" grep -q "asks for the boot's event log" "$D/r.out"

# --- secure boot off, on a host booted from the Ubuntu log ------------------
UBUNTU=$LOGS/ubuntu-2104-no-secure-boot.bin
evlog_boot "$UBUNTU" >/dev/null 2>&1
ok "a policy like Ubuntu's own, but requiring secure boot" \
	credential need-sb "$UBUNTU" '.eventlog.secure_boot = true'
refused eventlog_policy "secure boot off when the policy requires it" attest need-sb --eventlog "$UBUNTU"
said r.out
ok "... naming the SecureBoot event" grep -q \
	'PCR 7 event [0-9]* EV_EFI_VARIABLE_DRIVER_CONFIG: SecureBoot is not 01 (rule secure_boot)' "$D/r.out"
ok "the broker's log: hardware (secure boot) contraindicated (96)" \
	grep -q 'rule secure_boot); EAR executables=0 configuration=2 hardware=96' "$RIG_DIR/broker.log"
ok "the same host under its own policy is released" attest ubuntu-2104-no-secure-boot --eventlog "$UBUNTU"

# --- body limits: only the evidence carries a log ----------------------------
head -c 300000 /dev/urandom >"$D/garbage.bin"
refused eventlog_invalid "a 300 KB log is read (not payload_too_large) and refused as malformed" \
	attest ubuntu-2104-no-secure-boot --eventlog "$D/garbage.bin"
head -c $((1024 * 1024 + 1)) /dev/zero >"$D/huge.bin"
ok "a log over 1 MiB is not sent: the attester refuses it" \
	fails_saying 'empty or over 1 MiB' attest ubuntu-2104-no-secure-boot --eventlog "$D/huge.bin"
ln -s "$PWD/$UBUNTU" "$D/link.bin"
ok "a symlink is not followed" \
	fails_saying "event log $D/link.bin: Too many levels of symbolic links" \
	attest ubuntu-2104-no-secure-boot --eventlog "$D/link.bin"
mkfifo "$D/fifo.bin"
ok "a FIFO is not read (nor waited on)" \
	fails_saying "event log $D/fifo.bin: not a regular file" \
	attest ubuntu-2104-no-secure-boot --eventlog "$D/fifo.bin"
ok "a challenge of 100 KB is refused (413), not a connection reset" bash -c \
	"head -c 100000 /dev/zero | tr '\\0' x >$D/big.json
	 [ \"\$(curl -s -o /dev/null -w '%{http_code}' --cacert $BROKER_DIR/tls.crt \
		-H 'Content-Type: application/json' --data-binary @$D/big.json $BROKER_URL/v1/challenge)\" = 413 ]"
broker_stop
