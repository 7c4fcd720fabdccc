#!/usr/bin/env bash
# Every command of both binaries answers --help (exit 0, its usage on
# stdout), --version ("PROG VERSION", the version the man pages carry) and
# an unknown option (exit 2, usage on stderr, nothing on stdout). The
# commands come from each binary's own usage; the list kept here must
# match it, so a new command cannot go untested. No TPM, no broker: the
# broker directory named does not exist and must not be created.
. "$(dirname "$0")/../lib.sh"
R=$(mktemp -d "${TMPDIR:-/tmp}/attest11-cli.XXXXXX")
RIG_DIR=$R # where the ok helper keeps command output
trap 'rm -rf "$R"' EXIT
export ATTEST11_BROKER_DIR=$R/nodir

declare -A KEPT=(
	[attest11-broker]="init|serve|credential add|credential list|credential remove|credential policy|credential pin|credential unlock|policy from-eventlog|lease list|lease revoke|audit verify|audit export|master-key new|master-key rekey|master-key rotate"
	[attest11]="attest|renew|show|cert"
)
declare -A MAN=([attest11-broker]=docs/man/attest11-broker.8 [attest11]=docs/man/attest11.1)

# The commands a usage lists: its "  word [word]" lines, up to the first
# argument (an upper-case word or an option).
commands() {
	sed -n 's/^  \([a-z]\)/\1/p' | awk '{ c = $1; if ($2 ~ /^[a-z][a-z-]*$/) c = c " " $2; print c }'
}
# The man page as text: font escapes gone, "\-" as "-".
man_text() { sed 's/\\f[BIRP]//g; s/\\-/-/g' "$1"; }

# The version in a man page's header: .TH NAME S "" "attest11 0.1" ...
man_version() { sed -n 's/^\.TH [^"]*"[^"]*" "attest11 \([^"]*\)".*/\1/p' "$1"; }

# answers PROG ARGS...: --help, --version and an unknown option
answers() {
	local prog=$1 ver=$2; shift 2
	local bin=$BIN/$prog
	ok "$prog $* --help: exit 0, usage on stdout naming it" bash -c \
		"out=\$('$bin' $* --help 2>$R/err) && [ -n \"\$out\" ] && [ ! -s $R/err ] &&
		 echo \"\$out\" | head -n1 | grep -q '^usage: $prog .*$*'"
	ok "$prog $* --version: '$prog $ver'" bash -c \
		"[ \"\$('$bin' $* --version)\" = '$prog $ver' ]"
	ok "$prog $* --no-such-option: exit 2, usage on stderr" bash -c \
		"'$bin' $* --no-such-option >$R/out 2>$R/err; [ \$? = 2 ] && [ ! -s $R/out ] &&
		 grep -q '^usage: $prog' $R/err"
}

for prog in attest11-broker attest11; do
	man=${MAN[$prog]}
	ver=$(man_version "$man")
	ok "$prog: $man carries a version" test -n "$ver"
	ok "$prog --version is the man page's ($ver)" \
		bash -c "[ \"\$('$BIN/$prog' --version)\" = '$prog $ver' ]"
	"$BIN/$prog" --help >"$R/$prog.usage" 2>/dev/null
	ok "$prog --help: exit 0" "$BIN/$prog" --help
	man_text "$man" | sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' >"$R/$prog.synopsis"
	mapfile -t listed < <(commands <"$R/$prog.usage")
	IFS='|' read -r -a kept <<<"${KEPT[$prog]}"
	ok "$prog: the usage lists exactly the commands this test knows" \
		test "$(printf '%s\n' "${listed[@]}" | sort)" = "$(printf '%s\n' "${kept[@]}" | sort)"
	ok "$prog: no arguments is a usage error (2)" bash -c "'$BIN/$prog' >/dev/null 2>&1; [ \$? = 2 ]"
	ok "$prog: an unknown command is a usage error (2)" bash -c \
		"'$BIN/$prog' no-such-command >$R/out 2>&1; [ \$? = 2 ]"
	answers "$prog" "$ver"
	for cmd in "${listed[@]}"; do
		# shellcheck disable=SC2086
		answers "$prog" "$ver" $cmd
		ok "$prog $cmd: in the synopsis of $man" grep -q "^$prog.* $cmd\b" "$R/$prog.synopsis"
	done
done
# A group of commands ("credential") answers --help with its members.
ok "attest11-broker credential --help lists the credential commands only" bash -c \
	"out=\$('$BIN/attest11-broker' credential --help) &&
	 echo \"\$out\" | grep -q '^  credential pin' && ! echo \"\$out\" | grep -q '^  lease'"
ok "no broker directory was created" test ! -e "$R/nodir"
