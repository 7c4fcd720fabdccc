# shellcheck shell=bash
# make bench, replicas (sourced by bench.sh; BENCH_ONLY=replicas): the
# broker's capacity on SQLite, on PostgreSQL, and as two replicas on one
# PostgreSQL database (docs/operations.md, "Running several brokers"),
# under the same load: two attest11-load processes of REP_CONCURRENCY
# hosts each (default 4), REP_SECONDS each row (default 10), a repository
# credential without PIN (the hosts' PBKDF2 would be the load generator's
# CPU, not the broker's). The machine has two cores: each broker is
# pinned to one (taskset; one broker: core 0, two: cores 0 and 1), the
# load generators and PostgreSQL float over both, so the two-replica row
# gives the brokers twice the cores, never the rest of the system. Then
# the failover time: kill -9 of one replica under that load, to the first
# login (attest11 attest with the TPM, both URLs, the dead one first)
# served by the survivor.
REP_SECONDS=${REP_SECONDS:-10}
REP_CONCURRENCY=${REP_CONCURRENCY:-4}
. tests/rig/pg.sh
pg_start 2>"$RIG_DIR/pg.log" || { echo "bench: no PostgreSQL"; cat "$RIG_DIR/pg.log"; exit 1; }
trap 'pg_stop; rig_stop' EXIT
R=$RIG_DIR/rep; mkdir -p "$R/ekca"
sim_ek_ca "$R/ekca.key" "$R/ekca/ekca.pem" || { echo "bench: no EK CA"; exit 1; }
A11_EK_CA_DIR=$R/ekca write_policy "$R/policy"

# rep_dir NAME [STORE]: a broker directory (its own keys, the bench
# broker's TLS certificate) with a credential "rep"; STORE: a libpq URI.
rep_dir() {
	local d=$R/$1
	"$BIN/attest11-broker" -d "$d" init >/dev/null && cp "$BROKER_DIR/tls.crt" "$BROKER_DIR/tls.key" "$d/" &&
	printf '{"port": 0, "threads": 4, "nonce_ttl": 30%s}\n' "${2:+, \"store\": \"$2\"}" >"$d/broker.conf" &&
	"$BIN/attest11-broker" -d "$d" credential add rep --kind repository --policy "$R/policy" \
		--key "$D/ec.key" --chain "$D/ec.chain" >/dev/null
}
# rep_start NAME CORE: REP_PID, REP_URL
rep_start() {
	rm -f "$R/$1/port"
	taskset -c "$2" "$BIN/attest11-broker" -d "$R/$1" serve --port-file "$R/$1/port" \
		>>"$R/$1.log" 2>&1 &
	REP_PID=$!
	echo "$REP_PID" >>"$RIG_DIR/pids"
	for _ in $(seq 1 100); do [ -s "$R/$1/port" ] && break; sleep 0.05; done
	REP_URL=https://127.0.0.1:$(cat "$R/$1/port")
}
rep_stop() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
# rep_load NAME URLS1 URLS2: the two load generators at once; their
# summed rate on stdout, the JSON reports kept.
rep_load() {
	local i pids=() u
	for i in 1 2; do
		u=$2; [ "$i" = 2 ] && u=$3
		( TIMEFORMAT='%U %S'; time "$BIN/attest11-load" --broker "$u" --ca "$BROKER_DIR/tls.crt" \
			--ek-ca-key "$R/ekca.key" --ek-ca-cert "$R/ekca/ekca.pem" --credential rep \
			--mode closed --hosts 50 --concurrency "$REP_CONCURRENCY" --duration "$REP_SECONDS" \
			--timeout-ms 30000 --json >"$R/$1.$i.json" 2>"$R/$1.$i.err" ) 2>"$R/$1.$i.time" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in 1 2; do sed -n 's/.*"per_second": *\([0-9.]*\).*/\1/p' "$R/$1.$i.json"; done |
		awk '{ s += $1 } END { printf "%.1f", s }'
}
# The brokers' CPU (utime + stime, ms) so far, summed over PIDs.
rep_cpu() { local p t=0; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo $((t * 1000 / $(getconf CLK_TCK))); }
rep_exchanges() { cat "$R/$1".[12].json | sed -n 's/.*"exchanges": *\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }'; }
# rep_row LABEL NAME RATE CPU0 PIDS...: a row, with the brokers' and the
# load generators' CPU per attestation
rep_row() {
	local label=$1 name=$2 rate=$3 c0=$4 n; shift 4
	n=$(rep_exchanges "$name")
	printf '%-34s %9s %8s %12s %10s\n' "$label" "$rate" "$(rep_errors "$name")" \
		"$(awk -v c=$(( $(rep_cpu "$@") - c0 )) -v n="$n" 'BEGIN { if (n) printf "%.2f", c / n }')" \
		"$(cat "$R/$name".[12].time | awk -v n="$n" '{ s += $1 + $2 } END { if (n) printf "%.2f", s * 1000 / n }')"
}
rep_errors() { # transport + other errors + failed checks of a row's two runs
	cat "$R/$1".[12].json | sed -n 's/.*"transport_errors":\([0-9]*\),"other_errors":\([0-9]*\),"checks_failed":\([0-9]*\).*/\1 \2 \3/p' |
		awk '{ s += $1 + $2 + $3 } END { print s + 0 }'
}

rep_dir sqlite && rep_dir pg "$A11_TEST_PG" &&
	"$BIN/attest11-broker" -d "$R/pg" credential add tpm --kind repository --policy "$D/policy" \
		--key "$D/ec.key" --chain "$D/ec.chain" --pin-file "$D/pin" >/dev/null ||
	{ echo "bench: replica directories"; exit 1; }
cp -a "$R/pg" "$R/pg2" # the second replica: the same keys, the same database

printf '\nReplicas: two attest11-load processes x %s hosts at a time, %s s per row, closed loop,\n' \
	"$REP_CONCURRENCY" "$REP_SECONDS"
printf 'kept connections; each broker 4 threads on a core of its own (taskset), load and\n'
printf 'PostgreSQL on both of the %s cores (load average before: %s); broker ms/at: the\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf "brokers' CPU per attestation, load ms/at: the load generators'\n"
printf '%-34s %9s %8s %12s %10s\n' "" "attest/s" "errors" "broker ms/at" "load ms/at"
rep_start sqlite 0; A=$REP_PID; c0=$(rep_cpu "$A")
sqlite_rate=$(rep_load sqlite "$REP_URL" "$REP_URL")
rep_row "SQLite, one broker" sqlite "$sqlite_rate" "$c0" "$A"; rep_stop "$A"
rep_start pg 0; A=$REP_PID; URL_A=$REP_URL; c0=$(rep_cpu "$A")
pg1_rate=$(rep_load pg1 "$URL_A" "$URL_A")
rep_row "PostgreSQL, one broker" pg1 "$pg1_rate" "$c0" "$A"
rep_start pg2 1; B=$REP_PID; URL_B=$REP_URL; c0=$(rep_cpu "$A" "$B")
pg2_rate=$(rep_load pg2 "$URL_A,$URL_B" "$URL_B,$URL_A")
rep_row "PostgreSQL, two replicas" pg2 "$pg2_rate" "$c0" "$A" "$B"
printf 'two replicas / one on PostgreSQL: %s (goal >= 1.6); PostgreSQL / SQLite, one broker: %s (goal >= 0.7)\n' \
	"$(ratio "$pg2_rate" "$pg1_rate")" "$(ratio "$pg1_rate" "$sqlite_rate")"

# Failover: the load on both, then replica A killed; the first login after.
rep_load kill "$URL_A,$URL_B" "$URL_B,$URL_A" >/dev/null &
LOADS=$!
sleep "$(awk -v s="$REP_SECONDS" 'BEGIN { print s / 2 }')"
t0=$(date +%s%N)
{ kill -9 "$A"; wait "$A"; } 2>/dev/null # reaped at once: SIGKILL is not caught
ATTEST11_LOG=info "$BIN/attest11" attest --tcti "$A11_TCTI" --broker "$URL_A,$URL_B" \
	--ca "$BROKER_DIR/tls.crt" --credential tpm --pin-file "$D/pin" >"$R/failover.out" 2>&1
t1=$(date +%s%N)
t2=$(date +%s%N)
ATTEST11_LOG=info "$BIN/attest11" attest --tcti "$A11_TCTI" --broker "$URL_B" \
	--ca "$BROKER_DIR/tls.crt" --credential tpm --pin-file "$D/pin" >"$R/direct.out" 2>&1
t3=$(date +%s%N)
wait "$LOADS"
printf 'failover: kill -9 of a replica under that load to the first login served by the other: %s ms\n' \
	"$(( (t1 - t0) / 1000000 ))"
printf '  (%s; a login straight to the survivor just after: %s ms; errors of the load runs across the kill: %s)\n' \
	"$(grep -q "release from $URL_B" "$R/failover.out" && echo "served by the survivor" || echo "NOT served")" \
	"$(( (t3 - t2) / 1000000 ))" "$(rep_errors kill)"
rep_stop "$B"
pg_stop
trap rig_stop EXIT
