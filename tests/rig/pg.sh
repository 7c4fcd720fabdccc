# shellcheck shell=bash
# A private PostgreSQL cluster for the store suites: initdb in a temp dir,
# a server listening only on a unix socket in that dir (no TCP port at
# all), one database, stopped by PID.
#
#   . tests/rig/pg.sh
#   pg_start     # sets PG_DIR and A11_TEST_PG (a libpq URI for the database)
#   pg_stop      # kills by PID what pg_start started, removes PG_DIR
#
# PostgreSQL refuses to run as root: as root, initdb and the server run
# as PG_RUN_USER (default nobody) through setpriv, which needs neither a
# shell nor a home directory for that user. pg_start installs an
# EXIT/INT/TERM trap that calls pg_stop.

pg_log() { printf 'pg: %s\n' "$*" >&2; }

# The newest installed server's binaries (Debian: /usr/lib/postgresql/N/bin).
pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
	[ -x "$d/initdb" ] && echo "$d"
}

# Runs a command as the cluster's owner, in place of this (sub)shell: the
# PID of `pg_as ... &` is then the command's own, not a shell's.
pg_as() {
	[ "$(id -u)" != 0 ] && exec "$@"
	exec setpriv --reuid="$PG_RUN_USER" --regid="$(id -g "$PG_RUN_USER")" --clear-groups -- "$@"
}

pg_start() {
	local bin i
	bin=$(pg_bindir) || { pg_log "no PostgreSQL server installed (make deps)"; return 1; }
	PG_RUN_USER=${PG_RUN_USER:-nobody}
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/attest11-pg.XXXXXX")
	trap pg_stop EXIT
	trap 'pg_stop; exit 130' INT TERM
	# The owner must reach its data and socket directories, nobody else.
	chmod 0711 "$PG_DIR"
	mkdir -m 0700 "$PG_DIR/data" "$PG_DIR/sock"
	[ "$(id -u)" != 0 ] || chown "$PG_RUN_USER:$(id -g "$PG_RUN_USER")" "$PG_DIR/data" "$PG_DIR/sock"
	(pg_as "$bin/initdb" -D "$PG_DIR/data" -U attest11 --auth=trust -E UTF8 --no-locale -N \
		>"$PG_DIR/initdb.log" 2>&1) || { pg_log "initdb failed:"; cat "$PG_DIR/initdb.log" >&2; return 1; }
	# Durability is not under test here: fsync off makes the suites fast.
	pg_as "$bin/postgres" -D "$PG_DIR/data" -k "$PG_DIR/sock" -c listen_addresses= \
		-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
		>"$PG_DIR/server.log" 2>&1 &
	PG_PID=$!
	for i in $(seq 1 200); do
		"$bin/pg_isready" -q -h "$PG_DIR/sock" -U attest11 && break
		pg_alive "$PG_PID" || break
		sleep 0.05
	done
	"$bin/pg_isready" -q -h "$PG_DIR/sock" -U attest11 ||
		{ pg_log "server did not start:"; cat "$PG_DIR/server.log" >&2; return 1; }
	"$bin/createdb" -h "$PG_DIR/sock" -U attest11 a11 ||
		{ pg_log "createdb failed"; return 1; }
	A11_TEST_PG="postgresql:///a11?host=$PG_DIR/sock&user=attest11"
	export PG_DIR A11_TEST_PG
	pg_log "PostgreSQL (pid $PG_PID) on $PG_DIR/sock"
}

# Running, not a zombie: the server is this shell's child until reaped.
pg_alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st#Z}" = "$st" ]
}

pg_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	if [ -n "${PG_PID:-}" ]; then
		# SIGINT: fast shutdown (clients are cut off, no waiting for them).
		kill -INT "$PG_PID" 2>/dev/null
		for _ in $(seq 1 200); do pg_alive "$PG_PID" || break; sleep 0.05; done
		pg_alive "$PG_PID" && kill -9 "$PG_PID" 2>/dev/null
		wait "$PG_PID" 2>/dev/null
	fi
	[ -n "${PG_KEEP:-}" ] || rm -rf "$PG_DIR"
	PG_DIR= PG_PID=
	trap - EXIT INT TERM
}
