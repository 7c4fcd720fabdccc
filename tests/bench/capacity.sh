# shellcheck shell=bash
# make bench, capacity (sourced by bench.sh, after its broker started):
# attest11-load's simulated hosts against the same broker the other
# figures use (broker_setup: 4 threads, nonce_ttl 5), on the same machine:
# the load generator and the broker share its cores, so a row's rate is
# what both together reach, and the broker's CPU per attestation
# (/proc/PID/stat) is the figure that carries to a broker of its own.
# A repository credential with a PIN (the policy's 10000 PBKDF2
# iterations, paid by each simulated host as the module would), P-256
# EC key. CAP_SECONDS per row (default 10), CAP_HOSTS hosts (100),
# CAP_CONCURRENCY concurrent hosts (4), CAP_SPIKE hosts at once (1000).
CAP_SECONDS=${CAP_SECONDS:-10}
CAP_HOSTS=${CAP_HOSTS:-100}
CAP_CONCURRENCY=${CAP_CONCURRENCY:-4}
CAP_SPIKE=${CAP_SPIKE:-1000}
L=$RIG_DIR/load; mkdir -p "$L/ekca"
sim_ek_ca "$L/ekca.key" "$L/ekca/ekca.pem" || { echo "bench: no EK CA"; exit 1; }
A11_EK_CA_DIR=$L/ekca write_policy "$L/policy"
broker credential add load --kind repository --policy "$L/policy" --key "$D/ec.key" \
	--chain "$D/ec.chain" --pin-file "$D/pin" >/dev/null || exit 1

# cap_row LABEL ARGS...: one run, one row; the JSON report kept in $L.
cap_field() { sed -n "s/.*\"$2\": *\([0-9.]*\).*/\1/p" "$L/$1.json"; }
cap_num() { printf '%.1f' "$(cap_field "$@")"; }
cap_row() {
	local label=$1 f; shift
	f=$(echo "$label" | tr -c 'a-z0-9\n' '_')
	"$BIN/attest11-load" --broker "$BROKER_URL" --ca "$BROKER_DIR/tls.crt" \
		--ek-ca-key "$L/ekca.key" --ek-ca-cert "$L/ekca/ekca.pem" --credential load \
		--pin-file "$D/pin" --broker-pid "$BROKER_PID" --json "$@" >"$L/$f.json" 2>"$L/$f.err"
	printf '%-38s %8s %8s %8s %8s %9s   %s\n' "$label" "$(cap_num "$f" per_second)" \
		"$(cap_num "$f" p50)" "$(cap_num "$f" p99)" "$(cap_num "$f" max)" \
		"$(cap_num "$f" broker_cpu_ms_per_exchange)" \
		"$(sed -n 's/.*"releases":\([0-9]*\).*"refusals":\({[^}]*}\).*"transport_errors":\([0-9]*\),"other_errors":\([0-9]*\),"checks_failed":\([0-9]*\).*/\1 released; refusals \2, transport errors \3, other \4, checks failed \5/p' "$L/$f.json")"
}

printf '\nCapacity: attest11-load (simulated TPM hosts, every release checked) against the\n'
printf 'broker (4 threads), both on these %s cores; %s hosts, %s at a time, %s s per row\n' \
	"$(nproc)" "$CAP_HOSTS" "$CAP_CONCURRENCY" "$CAP_SECONDS"
printf '%-38s %8s %8s %8s %8s %9s\n' "closed loop (broker ms: its CPU/attest)" "attest/s" \
	"p50 ms" "p99 ms" "max ms" "broker ms"
for ek in p256 p384; do
	cap_row "$ek EK, kept connections" --mode closed --ek $ek --hosts "$CAP_HOSTS" \
		--concurrency "$CAP_CONCURRENCY" --duration "$CAP_SECONDS"
	cap_row "$ek EK, a new connection each" --mode closed --ek $ek --hosts "$CAP_HOSTS" \
		--concurrency "$CAP_CONCURRENCY" --duration "$CAP_SECONDS" --new-connections
	cap_row "$ek EK, new, full handshakes" --mode closed --ek $ek --hosts "$CAP_HOSTS" \
		--concurrency "$CAP_CONCURRENCY" --duration "$CAP_SECONDS" --new-connections \
		--full-handshakes
done
cap_row "p256 EK, kept, each renewed" --mode closed --ek p256 --hosts "$CAP_HOSTS" \
	--concurrency "$CAP_CONCURRENCY" --duration "$CAP_SECONDS" --renew
cap_row "spike: $CAP_SPIKE p256 hosts at once, new" --mode spike --ek p256 --hosts "$CAP_SPIKE" \
	--new-connections

# ---- the floor: the crypto one attestation needs (tests/bench/floor.c),
# measured in this run with the broker's keys, against the broker's CPU
# per attestation in the rows above. Kept connections: no handshake;
# new connections: one server-side handshake per attestation, resumed
# (each simulated host resumes its own last session) or, with
# --full-handshakes, full: the least a host pays that connects anew for
# each attestation (the load generator opens one per request, two per
# attestation, so these rows carry a second handshake the floor does not).
FLOOR=$("$BIN/tests/bench/floor" "$BROKER_DIR" "$L/ekca.key" "$L/ekca/ekca.pem" "$D/ec.key" \
	"${CAP_FLOOR_ITERATIONS:-100}") || { echo "bench: floor failed"; exit 1; }
floor_of() { echo "$FLOOR" | sed -n "s/^FLOOR ek=$1 .*$2=\([0-9.]*\).*/\1/p"; }
printf '\nFloor: CPU ms of the crypto one attestation needs, this process, broker keys\n'
printf '%-8s %8s %8s %8s %8s %8s %8s %8s %9s %8s\n' EK mkcred ek-chain quote+c wrap approval ear \
	crypto handshake resumed
for ek in p256 p384 rsa2048; do
	printf '%-8s' "$ek"
	for f in make_credential ek_chain quote_certify wrap approval ear crypto tls_handshake \
		tls_resumed; do
		printf ' %8s' "$(floor_of $ek $f)"
	done
	printf '\n'
done
printf '%-38s %9s %9s %7s\n' "broker CPU per attestation vs floor" "broker ms" "floor ms" ratio
for ek in p256 p384; do
	for conn in kept resumed full; do
		case $conn in
		kept) f="${ek}_____kept_connections"; hs=0 ;;
		resumed) f="${ek}_____a_new_connection_each"; hs=$(floor_of $ek tls_resumed) ;;
		full) f="${ek}_____new__full_handshakes"; hs=$(floor_of $ek tls_handshake) ;;
		esac
		fl=$(awk -v a="$(floor_of $ek crypto)" -v b="$hs" 'BEGIN { printf "%.3f", a + b }')
		b=$(cap_field "$f" broker_cpu_ms_per_exchange)
		printf '%-38s %9s %9s %7s\n' "$ek EK, $conn connections" "$(printf '%.2f' "$b")" "$fl" \
			"$(ratio "$b" "$fl")"
	done
done

# ---- a database write-locked by another process (admission and store_busy) ----
# The sqlite3 shell holds the write lock CAP_LOCK_S seconds (default 10)
# while /healthz is asked every 0.1 s and a closed loop runs: /healthz's
# time (curl's time_total, TLS handshake included) at p50 and max, and
# what the hosts got: served, or refused as store_busy and retried.
CAP_LOCK_S=${CAP_LOCK_S:-10}
cap_locked() {
	local holder loader times=$L/healthz.times n
	: >"$times"
	sqlite3 "$BROKER_DIR/broker.db" 'BEGIN IMMEDIATE;' ".shell sleep $CAP_LOCK_S" 'ROLLBACK;' &
	holder=$!
	echo "$holder" >>"$RIG_DIR/pids"
	sleep 0.2
	cap_row "closed loop under the lock, p256, kept" --mode closed --ek p256 \
		--hosts "$CAP_HOSTS" --concurrency "$CAP_CONCURRENCY" --duration "$CAP_LOCK_S" &
	loader=$!
	while kill -0 "$holder" 2>/dev/null; do
		curl -s --max-time 30 --cacert "$BROKER_DIR/tls.crt" -o /dev/null \
			-w '%{http_code} %{time_total}\n' "$BROKER_URL/healthz" >>"$times"
		sleep 0.1
	done
	wait "$loader" # not a bare wait: the broker is a child of this shell too
	n=$(grep -c '^503' "$times")
	printf '%-38s %s answers (%s said degraded), p50 %s ms, max %s ms; retried after 503: %s\n' \
		"/healthz while locked ($CAP_LOCK_S s)" "$(wc -l <"$times")" "$n" \
		"$(awk '{print $2 * 1000}' "$times" | sort -n | awk '{v[NR]=$1} END {printf "%.1f", v[int((NR+1)/2)]}')" \
		"$(awk '{print $2 * 1000}' "$times" | sort -n | tail -n1)" \
		"$(cap_field closed_loop_under_the_lock__p256__kept retried_after_503)"
}
printf 'spike: %s exchanges retried after a 503 (busy: past max_pending)\n' \
	"$(cap_field "spike__${CAP_SPIKE}_p256_hosts_at_once__new" retried_after_503)"
printf '\nThe database write-locked by another process (sqlite3 shell, BEGIN IMMEDIATE)\n'
cap_locked
