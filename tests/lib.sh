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
# short nonce lifetime.
broker_setup() {
	BROKER_DIR=$RIG_DIR/broker
	"$BIN/attest11-broker" -d "$BROKER_DIR" init >/dev/null || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=attest11-test-broker -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$BROKER_DIR/tls.key" -out "$BROKER_DIR/tls.crt" 2>/dev/null || return 1
	printf '{"port": 0, "threads": 4, "nonce_ttl": 5}\n' >"$BROKER_DIR/broker.conf"
	export BROKER_DIR
}

broker() { "$BIN/attest11-broker" -d "$BROKER_DIR" "$@"; }

broker_start() { # broker_start [PORT]: a restart keeps its URL when given the port
	rm -f "$BROKER_DIR/port"
	ATTEST11_LOG=info "$BIN/attest11-broker" -d "$BROKER_DIR" serve ${1:+--port "$1"} \
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

# attest11-load runs (tests/integ/load.sh, busy.sh):
#   load_rig NAME CONF  a private RIG_DIR (stopped by trap), in D=$RIG_DIR/creds
#                       the EK CA the simulated hosts' certificates chain to
#                       (D/ekca.key; A11_EK_CA_DIR for write_policy's ek_ca),
#                       and a broker started with broker.conf CONF
#   field NAME KEY      a number from the JSON report $RIG_DIR/NAME.json
#   clean NAME MIN      at least MIN exchanges, nothing failed or refused
load_rig() {
	RIG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/attest11-$1.XXXXXX")
	: >"$RIG_DIR/pids"
	export RIG_DIR
	trap rig_stop EXIT
	trap 'rig_stop; exit 130' INT TERM
	LOAD=$BIN/attest11-load D=$RIG_DIR/creds
	mkdir -p "$D" "$RIG_DIR/ekca"
	sim_ek_ca "$D/ekca.key" "$RIG_DIR/ekca/ekca.pem" || return 1
	A11_EK_CA_DIR=$RIG_DIR/ekca
	broker_setup || return 1
	printf '%s\n' "$2" >"$BROKER_DIR/broker.conf"
	broker_start
}
field() { sed -n "s/.*\"$2\": *\([0-9.]*\).*/\1/p" "$RIG_DIR/$1.json"; }
clean() {
	[ "$(field "$1" exchanges)" -ge "$2" ] && [ "$(field "$1" checks_failed)" = 0 ] &&
	[ "$(field "$1" transport_errors)" = 0 ] && [ "$(field "$1" other_errors)" = 0 ] &&
	[ "$(field "$1" unexpected_refusals)" = 0 ] && grep -q '"refusals": *{}' "$RIG_DIR/$1.json"
}

# saved_parent PREFIX: the parent of a key saved by --save-key, as
# tpm2-tools take it (PREFIX.parent names it; attest11(1)): a persistent
# SRK's handle, or a context file of the SRK made from its TCG template.
saved_parent() {
	case $(cat "$1.parent") in
	srk-rsa) echo 0x81000001 ;;
	srk-ecc)
		if tpm2_readpublic -T "$A11_TCTI" -c 0x81000002 >/dev/null 2>&1; then
			echo 0x81000002
		else
			tpm2_createprimary -T "$A11_TCTI" -C o -g sha256 -G ecc256:aes128cfb \
				-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt' \
				-c "$1.srk.ctx" >/dev/null && echo "$1.srk.ctx"
		fi ;;
	*) return 1 ;;
	esac
}

# attest NAME [args...]: the CLI against this rig and broker.
attest() {
	local name=$1; shift
	"$BIN/attest11" attest --tcti "$A11_TCTI" --broker "$BROKER_URL" \
		--ca "$BROKER_DIR/tls.crt" --credential "$name" "$@"
}

# evlog_events LOG: one line per record of the log, from tpm2_eventlog:
# "NUM OFFSET LENGTH PCR TYPE SHA256". The first record is a TCG_PCR_EVENT
# (32 bytes + data); the others TCG_PCR_EVENT2: 12 bytes, each digest with
# its algorithm id, the data size and the data.
evlog_events() {
	tpm2_eventlog "$1" 2>/dev/null | awk '
	BEGIN { sz["sha1"] = 20; sz["sha256"] = 32; sz["sha384"] = 48; sz["sha512"] = 64; sz["sm3_256"] = 32 }
	function flush() {
		if (num == "") return
		len = num == 0 ? 32 + size : 12 + dig + 4 + size
		print num, off + 0, len, pcr, type, (sha == "" ? "-" : sha)
		off += len
	}
	/^- EventNum:/ { flush(); num = $3; dig = 0; sha = ""; alg = "" }
	/^  PCRIndex:/ { pcr = $2 }
	/^  EventType:/ { type = $2 }
	/^  - AlgorithmId:/ { alg = $3; dig += 2 + sz[alg] }
	/^    Digest:/ { if (alg == "sha256") { sha = $2; gsub(/"/, "", sha) } }
	/^  EventSize:/ { size = $2 }
	/^pcrs:/ { flush(); num = "" }
	END { flush() }'
}

# evlog_boot LOG: a fresh TPM (a TPM Reset: PCRs back to their reset values)
# whose SHA-256 PCRs hold what the firmware of LOG extended.
evlog_boot() {
	rig_swtpm_restart || return 1
	evlog_events "$1" | while read -r _ _ _ pcr type sha; do
		[ "$type" = EV_NO_ACTION ] && continue
		tpm2_pcrextend -T "$A11_TCTI" "$pcr:sha256=$sha" >/dev/null || exit 1
	done
}

# An EK CA for simulated TPM hosts (src/simhost, attest11-load):
#   sim_ek_ca KEY CERT
sim_ek_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=attest11 simulated hosts EK CA" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign -keyout "$1" -out "$2" 2>/dev/null
}

# no_release_after_lock NAME: in the audit chain no release of NAME (a
# credential with pin_max_failures 3) follows the verdict that locked it.
# A wrong PIN is recorded as pin_incorrect, the one that locks and every
# try after it as pin_locked; after a lock (and an unlock), a
# pin_incorrect starts counting again.
no_release_after_lock() {
	broker audit export | jq -r --arg c "$1" 'select(.credential == $c) | .code' |
	awk '$0 == "pin_incorrect" { if (locked) { locked = 0; f = 0 } if (++f >= 3) locked = 1 }
	     $0 == "pin_locked" { locked = 1 }
	     $0 == "ok" { if (locked) bad = 1; f = 0 }
	     END { exit bad }'
}

# A repository credential: a leaf key + certificate under a private CA.
#   make_repo_key DIR NAME ec|rsa  -> DIR/NAME.key, NAME.crt, NAME.chain
make_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=attest11 test CA" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$1/ca.key" -out "$1/ca.crt" 2>/dev/null
}

make_repo_key() {
	local d=$1 n=$2 opt
	if [ "$3" = ec ]; then opt="-newkey ec -pkeyopt ec_paramgen_curve:P-256"; else opt="-newkey rsa:2048"; fi
	# shellcheck disable=SC2086
	openssl req -new $opt -nodes -subj "/CN=$n" -keyout "$d/$n.key" -out "$d/$n.csr" 2>/dev/null &&
	openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -days 2 \
		-set_serial "0x$(openssl rand -hex 8)" -extfile <(printf '%s\n' \
		"subjectAltName=DNS:localhost,IP:127.0.0.1" "extendedKeyUsage=serverAuth,clientAuth") \
		-out "$d/$n.crt" 2>/dev/null &&
	cat "$d/$n.crt" "$d/ca.crt" >"$d/$n.chain"
}

# Policy file: policy FILE [EXTRA-JSON [PCR-SELECTION]]
write_policy() {
	printf '{"ek_ca": "%s", "pcr_selection": %s, "lease_ttl": %s%s}\n' "$A11_EK_CA_DIR" \
		"${3:-{\"sha256\": [0,1,2,3,4,5,6,7]\}}" "${LEASE_TTL:-600}" "${2:-}" >"$1"
}

# The module's configuration and an OpenSSL configuration whose pkcs11
# engine loads attest11.so (what nginx and curl use).
#   module_setup TOKENS-JSON
# The module reaches tpm2-abrmd through a tpm2_send process of its own
# (cmd TCTI) rather than the tabrmd TCTI, whose GLib D-Bus connection does
# not survive fork() in a process that used it (nginx's master) and whose
# threads outlive C_Finalize. On a real host the module would use the
# kernel's resource manager, /dev/tpmrm0.
# MODULE_STATE_DIR: where processes share leases ("" for none; default a
# private one under the rig).
# MODULE_EAR_KEY: the broker's public EAR JWK the module verifies EARs
# with (default the broker's verifier.pub.jwk; "" for none).
module_conf() { # module_conf FILE TCTI TOKENS-JSON
	local ear=${MODULE_EAR_KEY-$BROKER_DIR/verifier.pub.jwk}
	printf '{"broker": "%s", "ca_file": "%s", "tcti": "%s", "timeout_ms": %s, "connect_timeout_ms": 2000, "state_dir": "%s", %s"tokens": %s}\n' \
		"$BROKER_URL" "$BROKER_DIR/tls.crt" "$2" "${MODULE_TIMEOUT_MS:-15000}" \
		"${MODULE_STATE_DIR-$RIG_DIR/state}" "${ear:+\"ear_key\": \"$ear\", }" "$3" >"$1"
}

module_setup() {
	export ATTEST11_CONF=$RIG_DIR/attest11.conf
	module_conf "$ATTEST11_CONF" "cmd:env -u OPENSSL_CONF -u LD_PRELOAD tpm2_send -T $A11_TCTI" "$1"
	# make check SANITIZE=1: the programs that load the instrumented module
	# are not instrumented, so wrappers first in PATH run them with the
	# sanitizer runtimes preloaded (leaks are checked in our own binaries'
	# suites), plus tests/rig/san_first.c (why: see there).
	if [ -n "${A11_SAN_PRELOAD:-}" ]; then
		local d=$RIG_DIR/sanbin p real
		mkdir -p "$d"
		cc -shared -fPIC -O2 -o "$d/san-first.so" "$(dirname "${BASH_SOURCE[0]}")/rig/san_first.c" -ldl ||
			return 1
		for p in pkcs11-tool p11tool p11-kit gnutls-cli curl openssl nginx; do
			real=$(PATH=${PATH#"$d":} command -v "$p") || return 1
			printf '#!/bin/sh\nLD_PRELOAD="%s %s" ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 exec %s "$@"\n' \
				"$A11_SAN_PRELOAD" "$d/san-first.so" "$real" >"$d/$p"
			chmod +x "$d/$p"
		done
		case :$PATH: in *:"$d":*) ;; *) export PATH=$d:$PATH ;; esac
	fi
	export OPENSSL_CONF=$RIG_DIR/openssl.cnf
	cat >"$OPENSSL_CONF" <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = /usr/lib/$(gcc -print-multiarch)/engines-3/pkcs11.so
MODULE_PATH = $BIN/attest11.so
init = 1
CNF
}

# nginx on a free port: nginx_start NAME SERVER-BLOCK-BODY (master + 2 workers,
# or NGINX_WORKERS; NGINX_LISTEN_OPTS e.g. reuseport)
nginx_start() {
	local name=$1 body=$2 port
	port=$(rig_free_port)
	mkdir -p "$RIG_DIR/nginx-$name/logs"
	cat >"$RIG_DIR/nginx-$name/nginx.conf" <<CONF
daemon off;
master_process on;
# The rig's files (module configuration, TPM bus) are root's own.
user root;
worker_processes ${NGINX_WORKERS:-2};
pid $RIG_DIR/nginx-$name/nginx.pid;
error_log $RIG_DIR/nginx-$name/logs/error.log info;
env ATTEST11_CONF;
env TSS2_LOG;
env ATTEST11_LOG;
env DBUS_SESSION_BUS_ADDRESS;
events { worker_connections 64; }
http {
	access_log $RIG_DIR/nginx-$name/logs/access.log;
	client_body_temp_path $RIG_DIR/nginx-$name/body;
	proxy_temp_path $RIG_DIR/nginx-$name/proxy;
	fastcgi_temp_path $RIG_DIR/nginx-$name/fastcgi;
	uwsgi_temp_path $RIG_DIR/nginx-$name/uwsgi;
	scgi_temp_path $RIG_DIR/nginx-$name/scgi;
	log_format w '\$pid \$ssl_protocol \$ssl_client_s_dn';
	server {
		listen 127.0.0.1:$port ssl ${NGINX_LISTEN_OPTS:-};
		access_log $RIG_DIR/nginx-$name/logs/workers.log w;
		$body
	}
}
CONF
	nginx -p "$RIG_DIR/nginx-$name" -c "$RIG_DIR/nginx-$name/nginx.conf" \
		>>"$RIG_DIR/nginx-$name/logs/stdout.log" 2>&1 &
	echo $! >>"$RIG_DIR/pids"
	rig_wait_port "$port" || { cat "$RIG_DIR/nginx-$name/logs/error.log"; return 1; }
	eval "NGINX_PORT_$name=$port"
}
