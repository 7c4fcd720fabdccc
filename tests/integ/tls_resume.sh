#!/usr/bin/env bash
# TLS session resumption (src/broker/http_tls.c, docs/protocol.md "TLS"):
# a client's second connection resumes its first one's session, with
# TLS 1.3 and 1.2, by GnuTLS's and OpenSSL's clients (libcurl's, the
# attester's, is OpenSSL); after a restart of the broker the old session
# does not resume (its ticket key lived in the old process only), and the
# client gets a full handshake rather than an error; libcurl's handshake
# takes no HelloRetryRequest. No TPM.
. "$(dirname "$0")/../lib.sh"
load_rig tls '{"port": 0, "threads": 2}' || { echo "not ok - broker"; exit 1; }
port=${BROKER_URL##*:}
S=$RIG_DIR/session.pem

# gnutls-cli --resume connects twice and says whether the second resumed.
resumes() { # resumes PRIORITY
	echo | timeout 30 gnutls-cli --priority "$1" --resume --x509cafile "$BROKER_DIR/tls.crt" \
		-p "$port" 127.0.0.1 2>&1 | grep -q '^\*\*\* This is a resumed session'
}
# openssl_says New|Reused SESSION-OPTIONS...: one connection, how it began.
openssl_says() {
	local want=$1; shift
	(sleep 0.5) | timeout 30 openssl s_client -connect "127.0.0.1:$port" \
		-CAfile "$BROKER_DIR/tls.crt" -verify_return_error "$@" 2>/dev/null |
		grep -q "^$want, TLS"
}

ok "TLS 1.3: a second connection resumes (gnutls-cli)" resumes NORMAL:-VERS-ALL:+VERS-TLS1.3
ok "TLS 1.2: a second connection resumes (gnutls-cli)" resumes NORMAL:-VERS-ALL:+VERS-TLS1.2
ok "OpenSSL: a full handshake, its session kept" openssl_says New -sess_out "$S"
ok "OpenSSL: the kept session resumes" openssl_says Reused -sess_in "$S"
# libcurl (OpenSSL) sends an X25519 key share first: one ClientHello, no
# HelloRetryRequest (src/broker/http.h, HTTP_TLS_PRIORITIES).
ok "libcurl's handshake needs no HelloRetryRequest" bash -c \
	"[ \"\$(curl -sv --cacert '$BROKER_DIR/tls.crt' '$BROKER_URL/healthz' 2>&1 >/dev/null |
		grep -c 'TLS handshake, Client hello')\" = 1 ]"
broker_stop
broker_start "$port" || { echo "not ok - broker restart"; exit 1; }
ok "after a restart the old session is not resumed: a full handshake" \
	openssl_says New -sess_in "$S"

# attest11-load's simulated hosts: with --new-connections each resumes its
# own last session, with --full-handshakes none does; the broker says at
# stop how many of its connections resumed.
head -c 300 /dev/urandom | base64 -w0 >"$D/token"
write_policy "$D/policy"
ok "add a token credential" broker credential add tok --kind token --policy "$D/policy" \
	--token "$D/token"
hosts() { # hosts ARGS...: 4 hosts, 2 attestations each, a new connection per request
	"$LOAD" --broker "$BROKER_URL" --ca "$BROKER_DIR/tls.crt" --ek-ca-key "$D/ekca.key" \
		--ek-ca-cert "$RIG_DIR/ekca/ekca.pem" --credential tok --hosts 4 --count 8 \
		--new-connections "$@"
}
resumed() { # the broker's last count of resumed connections, at its stop
	sed -n 's/.* TLS connections closed, \([0-9]*\) of them resumed.*/\1/p' \
		"$RIG_DIR/broker.log" | tail -n 1
}
ok "attest11-load --full-handshakes" hosts --full-handshakes
broker_stop
ok "... no connection resumed" test "$(resumed)" = 0
broker_start "$port" || { echo "not ok - broker restart"; exit 1; }
ok "attest11-load --new-connections" hosts
broker_stop
# 8 attestations of 4 hosts, 2 requests each: all but each host's first
# connection resume (12 of 16).
ok "... each host resumed its own session" test "$(resumed)" = 12
ok "the broker logged no TLS warning" bash -c "! grep -q 'session ticket' '$RIG_DIR/broker.log'"
