# shellcheck shell=bash
# Test rig: a private swtpm (and, on request, tpm2-abrmd on a private D-Bus)
# on loopback, in a temp dir, with an EK CA that exists only for this run.
#
#   . tests/rig/rig.sh
#   rig_start            # sets RIG_DIR, A11_TCTI, A11_EK_CA_DIR, A11_EK_CA_ROOT
#   rig_abrmd            # optional: A11_TCTI now goes through tpm2-abrmd
#   rig_stop             # kills by PID whatever rig_start/rig_abrmd started
#
# rig_stop runs from an EXIT/INT/TERM trap that rig_start installs, so a
# failing or interrupted test never leaves a process behind.

rig_log() { printf 'rig: %s\n' "$*" >&2; }

rig_free_port() {
	# A port nobody listens on now; the caller retries if it loses a race.
	local p
	while :; do
		# Below the ephemeral range (32768+), so no outgoing connection holds it.
		p=$((10000 + RANDOM % 22000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
		   ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
			echo "$p"; return
		fi
	done
}

rig_wait_port() {
	local i
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

rig_manufacture() {
	local ca="$RIG_DIR/ca" st="$RIG_DIR/tpm"
	mkdir -p "$ca" "$st"
	cat >"$RIG_DIR/swtpm-localca.conf" <<CONF
statedir = $ca
signingkey = $ca/signkey.pem
issuercert = $ca/issuercert.pem
certserial = $ca/certserial
CONF
	cat >"$RIG_DIR/swtpm-localca.options" <<CONF
--platform-manufacturer attest11
--platform-version 2.1
--platform-model rig
CONF
	cat >"$RIG_DIR/swtpm_setup.conf" <<CONF
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $RIG_DIR/swtpm-localca.conf
create_certs_tool_options = $RIG_DIR/swtpm-localca.options
active_pcr_banks = sha256
CONF
	swtpm_setup --tpm2 --tpmstate "$st" --config "$RIG_DIR/swtpm_setup.conf" \
		--create-ek-cert --create-platform-cert --create-spk \
		--logfile "$RIG_DIR/swtpm_setup.log" >/dev/null 2>&1 ||
		{ rig_log "swtpm_setup failed, see $RIG_DIR/swtpm_setup.log"; return 1; }
	# The EK chain: intermediate (issuercert) under the self-signed root.
	mkdir -p "$RIG_DIR/ekca"
	cp "$ca/issuercert.pem" "$ca/swtpm-localca-rootca-cert.pem" "$RIG_DIR/ekca/"
}

rig_start() {
	RIG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/attest11-rig.XXXXXX")
	: >"$RIG_DIR/pids"
	trap rig_stop EXIT
	trap 'rig_stop; exit 130' INT TERM
	rig_manufacture || return 1
	local port try
	for try in 1 2 3 4 5; do
		port=$(rig_free_port)
		swtpm socket --tpm2 --tpmstate dir="$RIG_DIR/tpm" \
			--server type=tcp,port="$port",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			--log file="$RIG_DIR/swtpm.log" &
		echo $! >>"$RIG_DIR/pids"
		if rig_wait_port "$port"; then break; fi
		kill "$(tail -n1 "$RIG_DIR/pids")" 2>/dev/null
		port=
	done
	[ -n "$port" ] || { rig_log "swtpm did not start"; return 1; }
	RIG_SWTPM_PORT=$port
	RIG_SWTPM_PID=$(tail -n1 "$RIG_DIR/pids")
	A11_TCTI="swtpm:host=127.0.0.1,port=$port"
	# Tests provoke wrong-PIN failures on purpose: allow many, recover fast.
	tpm2_dictionarylockout -T "$A11_TCTI" -s -n 1000 -t 1 -l 1 >/dev/null 2>&1 &&
		tpm2_dictionarylockout -T "$A11_TCTI" -c >/dev/null 2>&1 ||
		{ rig_log "cannot set dictionary-attack parameters"; return 1; }
	A11_EK_CA_DIR="$RIG_DIR/ekca"
	A11_EK_CA_ROOT="$RIG_DIR/ekca/swtpm-localca-rootca-cert.pem"
	export RIG_DIR RIG_SWTPM_PORT A11_TCTI A11_EK_CA_DIR A11_EK_CA_ROOT
	rig_log "swtpm on 127.0.0.1:$port, state in $RIG_DIR"
}

# A TPM power cycle: swtpm killed and started again on the same port and
# state, which is a TPM Reset (resetCount goes up, every transient object
# and session is gone). rig_abrmd's daemon reconnects by itself.
rig_swtpm_restart() {
	kill -KILL "$RIG_SWTPM_PID" 2>/dev/null
	wait "$RIG_SWTPM_PID" 2>/dev/null
	swtpm socket --tpm2 --tpmstate dir="$RIG_DIR/tpm" \
		--server type=tcp,port="$RIG_SWTPM_PORT",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((RIG_SWTPM_PORT + 1)),bindaddr=127.0.0.1 \
		--flags not-need-init,startup-clear \
		--log file="$RIG_DIR/swtpm.log" &
	RIG_SWTPM_PID=$!
	echo "$RIG_SWTPM_PID" >>"$RIG_DIR/pids"
	rig_wait_port "$RIG_SWTPM_PORT"
}

# Several processes share one TPM only through a resource manager.
rig_abrmd() {
	local bus name
	bus=$(dbus-daemon --session --fork --print-address=1 --print-pid=3 3>"$RIG_DIR/dbus.pid") ||
		{ rig_log "dbus-daemon failed"; return 1; }
	cat "$RIG_DIR/dbus.pid" >>"$RIG_DIR/pids"
	export DBUS_SESSION_BUS_ADDRESS=$bus
	name="com.attest11.rig$$x$RANDOM"
	tpm2-abrmd --session --allow-root --dbus-name="$name" \
		--tcti="swtpm:host=127.0.0.1,port=$RIG_SWTPM_PORT" \
		>"$RIG_DIR/abrmd.log" 2>&1 &
	echo $! >>"$RIG_DIR/pids"
	A11_TCTI="tabrmd:bus_type=session,bus_name=$name"
	export A11_TCTI
	local i
	for i in $(seq 1 100); do
		tpm2_getrandom -T "$A11_TCTI" 1 >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	rig_log "tpm2-abrmd did not come up, see $RIG_DIR/abrmd.log"
	return 1
}

rig_stop() {
	[ -n "${RIG_DIR:-}" ] && [ -f "$RIG_DIR/pids" ] || return 0
	local pid
	while read -r pid; do kill "$pid" 2>/dev/null; done <"$RIG_DIR/pids"
	while read -r pid; do
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
		kill -9 "$pid" 2>/dev/null
	done <"$RIG_DIR/pids"
	[ -n "${RIG_KEEP:-}" ] || rm -rf "$RIG_DIR"
	RIG_DIR=
}
