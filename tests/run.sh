#!/usr/bin/env bash
# Runs the static checks, every test binary and script and ends with "N passed, N failed".
# Unit tests run as they are; the store suites run a second time against
# a private PostgreSQL cluster (tests/rig/pg.sh); integration tests run
# against a private swtpm from tests/rig (one rig for the C suites, torn
# down by trap).
set -u
O=${1:?usage: tests/run.sh BUILD_DIR}
cd "$(dirname "$0")/.." || exit 1
. tests/rig/rig.sh
. tests/rig/pg.sh

# The suites of the store's interface, backend-independent
# (tests/unit/store_fixture.h): SQLite above, PostgreSQL here.
PG_SUITES="test_store test_store_session test_store_verdict test_store_audit test_store_keys test_store_pg_sql"

pass=0 fail=0 failed_names=()
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/attest11-tests.XXXXXX")
export TSS2_LOG=${TSS2_LOG:-all+none}

# A cmocka binary: add its own PASSED/FAILED counts; no summary = crash.
#   run_cmocka BIN [NAME STORE]: STORE "pg" runs the store suites on PostgreSQL
run_cmocka() {
	local bin=$1 name=${2:-} log p f
	[ -n "$name" ] || name=$(basename "$bin")
	log="$LOGDIR/$name.log"
	A11_TEST_STORE=${3:-} "$bin" >"$log" 2>&1
	local rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
	if [ -z "$p$f" ] || { [ "$rc" != 0 ] && [ -z "$f" ]; }; then
		f=$(( ${f:-0} + 1 ))
	fi
	pass=$((pass + ${p:-0})) fail=$((fail + ${f:-0}))
	if [ "${f:-0}" != 0 ]; then
		failed_names+=("$name"); echo "FAIL $name (rc $rc)"; sed 's/^/    /' "$log" | tail -n 40
	else
		echo "ok   $name (${p:-0} tests)"
	fi
}

# A shell test prints TAP-style "ok - ..." / "not ok - ..." lines (see
# tests/integ/lib.sh); a non-zero exit without a "not ok" is one failure.
run_script() {
	local t=$1 name log rc p f
	name=$(basename "$t")
	log="$LOGDIR/$name.log"
	O="$O" bash "$t" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	[ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
	pass=$((pass + p)) fail=$((fail + f))
	if [ "$f" != 0 ]; then
		failed_names+=("$name"); echo "FAIL $name ($p ok, $f failed)"
		grep -n '^not ok ' "$log" | sed 's/^/    /'
		sed 's/^/    /' "$log" | tail -n 40
	else
		echo "ok   $name ($p checks)"
	fi
}

# Static checks of the sources (tests/static: who may include whom).
for t in tests/static/*.sh; do [ -f "$t" ] && run_script "$t"; done

for t in "$O"/tests/unit/test_*; do [ -x "$t" ] && run_cmocka "$t"; done

if pg_start; then
	for n in $PG_SUITES; do run_cmocka "$O/tests/unit/$n" "$n[pg]" pg; done
else
	fail=$((fail + 1)); failed_names+=("pg"); echo "FAIL pg: could not start PostgreSQL"
fi
pg_stop

if compgen -G "$O/tests/integ/test_*" >/dev/null; then
	if rig_start; then
		for t in "$O"/tests/integ/test_*; do
			[ -x "$t" ] && [ "${t%.o}" = "$t" ] && [ "${t%.d}" = "$t" ] && run_cmocka "$t"
		done
	else
		fail=$((fail + 1)); failed_names+=("rig"); echo "FAIL rig: could not start swtpm"
	fi
	rig_stop
fi

for t in tests/integ/*.sh; do [ -f "$t" ] && run_script "$t"; done

[ "$fail" = 0 ] && rm -rf "$LOGDIR" || echo "logs kept in $LOGDIR: ${failed_names[*]}"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
