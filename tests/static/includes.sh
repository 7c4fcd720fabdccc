#!/usr/bin/env bash
# Who may include whom (docs/architecture.md, "Who may include whom"):
# every #include of src/DIR/*.[ch] against DIR's row of that table. One
# "ok"/"not ok" line per directory (tests/run.sh counts them).
#   tests/static/includes.sh [ROOT]   (ROOT: the source tree, default ..)
set -u
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
DOC=$ROOT/docs/architecture.md

# The C library and POSIX: allowed everywhere.
LIBC=' arpa/inet.h assert.h ctype.h dirent.h dlfcn.h errno.h fcntl.h getopt.h inttypes.h
 limits.h malloc.h math.h netdb.h netinet/in.h poll.h pthread.h sched.h setjmp.h signal.h
 spawn.h stdarg.h stdatomic.h stdbool.h stddef.h stdint.h stdio.h stdlib.h string.h
 strings.h sys/file.h sys/inotify.h sys/mman.h sys/resource.h sys/signalfd.h sys/socket.h
 sys/stat.h sys/time.h sys/types.h sys/uio.h sys/un.h sys/wait.h time.h unistd.h'
LIBC=" $(echo $LIBC) " # one space around each name

# The library a <header> belongs to, as the table names it ("" if none).
library() {
	case $1 in
	openssl/*) echo OpenSSL ;;
	tss2/tss2_tpm2_types.h | tss2/tss2_mu.h | tss2/tss2_common.h) echo tss2-mu ;;
	tss2/*) echo tss2-esys ;;
	jansson.h) echo jansson ;;
	curl/*) echo libcurl ;;
	microhttpd.h) echo libmicrohttpd ;;
	gnutls/*) echo GnuTLS ;;
	sqlite3.h) echo SQLite ;;
	libpq-fe.h) echo libpq ;;
	cjose/*) echo cjose ;;
	esac
}

# The table's row for src/$1: "SRC-LIST|LIBRARY-LIST", comma-separated.
row() {
	awk -F'|' -v d="\`src/$1\`" '
		$2 ~ "^ *" d " *$" { gsub(/ /, "", $3); gsub(/ /, "", $4); print $3 "|" $4; exit }' "$DOC"
}

in_list() { case ",$2," in *",$1,"*) return 0 ;; esac; return 1; }

rc=0
for dir in "$ROOT"/src/*/; do
	d=$(basename "$dir")
	r=$(row "$d")
	if [ -z "$r" ]; then
		echo "not ok - src/$d has no row in docs/architecture.md's include table"; rc=1; continue
	fi
	srcs=${r%%|*} libs=${r#*|}
	[ "$srcs" = "—" ] && srcs=
	bad=()
	for f in "$dir"*.c "$dir"*.h; do
		[ -f "$f" ] || continue
		while IFS= read -r inc; do
			case $inc in
			'"'*)   # a project header: which directory?
				h=${inc//\"/}
				case $h in
				../../include/*) t=include h=${h#../../include/} ;;
				../*/*) h=${h#../}; t=${h%%/*} ;;
				*) continue ;;  # its own directory
				esac
				in_list "$t" "$srcs" || in_list "$h" "$srcs" ||
					bad+=("${f#"$ROOT"/}: $inc (src/$d may not include src/$t)") ;;
			'<'*)
				h=${inc#<}; h=${h%>}
				case $LIBC in *" $h "*) continue ;; esac
				l=$(library "$h")
				if [ -z "$l" ]; then
					bad+=("${f#"$ROOT"/}: $inc (unknown: name its library in the table or the C library list)")
				elif ! in_list "$l" "$libs"; then
					bad+=("${f#"$ROOT"/}: $inc (src/$d may not use $l)")
				fi ;;
			esac
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f")
	done
	if [ ${#bad[@]} = 0 ]; then
		echo "ok - src/$d includes only what docs/architecture.md allows"
	else
		echo "not ok - src/$d includes what docs/architecture.md does not allow:"
		printf '#   %s\n' "${bad[@]}"
		rc=1
	fi
done
exit $rc
