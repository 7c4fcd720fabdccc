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
# served by the survivor. Last, the two PostgreSQL rows again with each
# broker held to REP_QUOTA % of a core (default 25; a cpu cgroup of its
# own, a stand-in for a machine of its own): there the brokers, not the
# load generators or the database, are what runs out, which is what a
# scale-out ratio is about; skipped where no cpu cgroup can be made.
REP_SECONDS=${REP_SECONDS:-10}
REP_CONCURRENCY=${REP_CONCURRENCY:-4}
REP_QUOTA=${REP_QUOTA:-25}
REP_CGROUPS=()
. tests/rig/pg.sh
pg_start 2>"$RIG_DIR/pg.log" || { echo "bench: no PostgreSQL"; cat "$RIG_DIR/pg.log"; exit 1; }
rep_uncap() { local g; for g in "${REP_CGROUPS[@]}"; do rmdir "$g" 2>/dev/null; done; REP_CGROUPS=(); }
trap 'pg_stop; rig_stop; rep_uncap' EXIT
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
# rep_cap PID: the process (all its threads) held to REP_QUOTA % of one
# core, in 10 ms periods (short, so that a request waits little for the
# next), in a cpu cgroup of its own (v1 or v2); false if none can be made.
rep_cap() {
	local g q=$((REP_QUOTA * 100)) root=/sys/fs/cgroup/cpu
	if [ -w "$root" ]; then
		g=$root/attest11-bench-$1
		mkdir "$g" 2>/dev/null || return 1
		REP_CGROUPS+=("$g")
		echo 10000 >"$g/cpu.cfs_period_us" && echo "$q" >"$g/cpu.cfs_quota_us" || return 1
	elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
		g=/sys/fs/cgroup/attest11-bench-$1
		mkdir "$g" 2>/dev/null || return 1
		REP_CGROUPS+=("$g")
		echo "$q 10000" >"$g/cpu.max" || return 1
	else
		return 1
	fi
	echo "$1" >"$g/cgroup.procs" 2>/dev/null
}
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
# PostgreSQL's CPU (ms) so far: the postmaster with its reaped children
# (cutime + cstime) and its live backends.
rep_db_cpu() {
	local p t=0
	for p in "$PG_PID" $(pgrep -P "$PG_PID"); do
		t=$((t + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo $((t * 1000 / $(getconf CLK_TCK)))
}
rep_exchanges() { cat "$R/$1".[12].json | sed -n 's/.*"exchanges": *\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }'; }
per_at() { awk -v c="$1" -v n="$2" 'BEGIN { if (n) printf "%.2f", c / n; else print "-" }'; }
# rep_run LABEL NAME URLS1 URLS2 PIDS...: a row after a 2 s warm-up run
# (a fresh broker's caches and connections; not counted), its rate in
# REP_RATE; CPU per attestation of the brokers, PostgreSQL (all of it,
# whatever its clients: "-" for the SQLite row) and the load generators.
rep_run() {
	local label=$1 name=$2 u1=$3 u2=$4 c0 d0 n db=-; shift 4
	REP_SECONDS=2 rep_load "$name-warm" "$u1" "$u2" >/dev/null
	c0=$(rep_cpu "$@") d0=$(rep_db_cpu)
	REP_RATE=$(rep_load "$name" "$u1" "$u2")
	n=$(rep_exchanges "$name")
	case $label in PostgreSQL*) db=$(per_at $(( $(rep_db_cpu) - d0 )) "$n") ;; esac
	printf '%-34s %9s %8s %12s %10s %10s\n' "$label" "$REP_RATE" "$(rep_errors "$name")" \
		"$(per_at $(( $(rep_cpu "$@") - c0 )) "$n")" "$db" \
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
printf "brokers' CPU per attestation, db ms/at: PostgreSQL's, load ms/at: the load generators'\n"
printf '%-34s %9s %8s %12s %10s %10s\n' "" "attest/s" "errors" "broker ms/at" "db ms/at" "load ms/at"
rep_start sqlite 0; A=$REP_PID
rep_run "SQLite, one broker" sqlite "$REP_URL" "$REP_URL" "$A"; sqlite_rate=$REP_RATE
rep_stop "$A"
rep_start pg 0; A=$REP_PID; URL_A=$REP_URL
rep_run "PostgreSQL, one broker" pg1 "$URL_A" "$URL_A" "$A"; pg1_rate=$REP_RATE
rep_start pg2 1; B=$REP_PID; URL_B=$REP_URL
rep_run "PostgreSQL, two replicas" pg2 "$URL_A,$URL_B" "$URL_B,$URL_A" "$A" "$B"; pg2_rate=$REP_RATE
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

# The same two rows with each broker held to REP_QUOTA % of a core.
rep_start pg 0; A=$REP_PID; URL_A=$REP_URL
if rep_cap "$A"; then
	printf 'each broker held to %s %% of a core (cpu cgroup quota):\n' "$REP_QUOTA"
	rep_run "PostgreSQL, one broker, capped" cap1 "$URL_A" "$URL_A" "$A"; cap1_rate=$REP_RATE
	rep_start pg2 1; B=$REP_PID; URL_B=$REP_URL
	rep_cap "$B" || echo "bench: the second replica could not be capped"
	rep_run "PostgreSQL, two replicas, capped" cap2 "$URL_A,$URL_B" "$URL_B,$URL_A" "$A" "$B"
	cap2_rate=$REP_RATE
	printf 'two replicas / one, each held to %s %% of a core: %s (goal >= 1.6)\n' \
		"$REP_QUOTA" "$(ratio "$cap2_rate" "$cap1_rate")"
	rep_stop "$B"
else
	printf 'capped rows skipped: no cpu cgroup could be made (root with cgroup v1 cpu, or v2 with cpu enabled)\n'
fi
rep_stop "$A"
rep_uncap
pg_stop
trap rig_stop EXIT
