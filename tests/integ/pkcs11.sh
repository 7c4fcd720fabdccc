#!/usr/bin/env bash
# attest11.so with unmodified clients: pkcs11-tool, p11tool, curl and
# nginx through the OpenSSL pkcs11 engine, openssl s_server/s_client,
# gnutls-cli through p11-kit; refusals end to end.
. "$(dirname "$0")/../lib.sh"
rig_start >/dev/null 2>&1 && rig_abrmd >/dev/null 2>&1 || { echo "not ok - rig"; exit 1; }
broker_setup && broker_start || { echo "not ok - broker"; exit 1; }
D=$RIG_DIR/creds
mkdir -p "$D"
make_ca "$D"
make_repo_key "$D" ec ec && make_repo_key "$D" rsa rsa && make_repo_key "$D" server ec &&
	make_repo_key "$D" other ec || { echo "not ok - keys"; exit 1; }
echo 1234 >"$D/pin"
pcr23=$(tpm2_pcrread -T "$A11_TCTI" sha256:23 | awk '$1 == "23:" {print tolower(substr($2,3))}')
write_policy "$D/plain.policy"
write_policy "$D/mint.policy" ', "workload_id": "spiffe://test.example/mint"'
write_policy "$D/bound.policy" ', "bind_pcrs": true' '{"sha256": [16]}'
write_policy "$D/ref.policy" ", \"pcr_reference\": [{\"sha256\": {\"23\": \"$pcr23\"}}]" '{"sha256": [23]}'
add() { broker credential add "$@" >/dev/null; }
add ec --kind repository --policy "$D/plain.policy" --key "$D/ec.key" --chain "$D/ec.chain" --pin-file "$D/pin" &&
add rsa --kind repository --policy "$D/plain.policy" --key "$D/rsa.key" --chain "$D/rsa.chain" --pin-file "$D/pin" &&
add server --kind repository --policy "$D/plain.policy" --key "$D/server.key" --chain "$D/server.chain" --pin-file "$D/pin" &&
add mint --kind ca --policy "$D/mint.policy" --key "$D/ca.key" --chain "$D/ca.crt" --pin-file "$D/pin" &&
add bound --kind repository --policy "$D/bound.policy" --key "$D/other.key" --chain "$D/other.chain" --pin-file "$D/pin" &&
add ref --kind repository --policy "$D/ref.policy" --key "$D/other.key" --chain "$D/other.chain" --pin-file "$D/pin" ||
	{ echo "not ok - credentials"; exit 1; }
module_setup '[{"label": "ec", "credential": "ec", "key_type": "ec"},
	{"label": "rsa", "credential": "rsa", "key_type": "rsa"},
	{"label": "server", "credential": "server", "key_type": "ec"},
	{"label": "mint", "credential": "mint", "key_type": "ec"},
	{"label": "bound", "credential": "bound", "key_type": "ec"},
	{"label": "ref", "credential": "ref", "key_type": "ec"}]'
M=$BIN/attest11.so
tool() { pkcs11-tool --module "$M" "$@"; }

# --- pkcs11-tool, p11tool ---------------------------------------------
ok "pkcs11-tool lists the six slots with their labels" bash -c \
	"pkcs11-tool --module $M -L | grep -c 'token label' | grep -qx 6"
ok "mechanisms of an RSA token include PSS and OAEP" bash -c \
	"pkcs11-tool --module $M --token-label rsa -M | grep -q RSA-PKCS-PSS && pkcs11-tool --module $M --token-label rsa -M | grep -q RSA-PKCS-OAEP"
ok "no private objects before login" bash -c "! pkcs11-tool --module $M --token-label ec -O 2>&1 | grep -q 'Private Key'"
ok "after login: private key, public key and certificate chain" bash -c \
	"o=\$(pkcs11-tool --module $M --token-label ec -O --login --pin 1234); echo \"\$o\" | grep -q 'Private Key Object; EC' && echo \"\$o\" | grep -q 'Public Key Object; EC' && [ \$(echo \"\$o\" | grep -c 'Certificate Object') = 2 ]"
ok "wrong PIN: CKR_PIN_INCORRECT" bash -c \
	"pkcs11-tool --module $M --token-label ec -O --login --pin 9999 2>&1 | grep -q CKR_PIN_INCORRECT"
ok "pkcs11-tool --test on the EC token" bash -c \
	"pkcs11-tool --module $M --token-label ec --test --login --pin 1234 2>&1 | tee $RIG_DIR/t-ec.log | grep -q 'No errors'"
ok "pkcs11-tool --test on the RSA token (sign, verify, decrypt)" bash -c \
	"pkcs11-tool --module $M --token-label rsa --test --login --pin 1234 2>&1 | tee $RIG_DIR/t-rsa.log | grep -q 'No errors'"
echo "attest11 signs this" >"$D/msg"
openssl x509 -in "$D/ec.crt" -pubkey -noout >"$D/ec.pub"
openssl x509 -in "$D/rsa.crt" -pubkey -noout >"$D/rsa.pub"
for m in ECDSA-SHA256 ECDSA-SHA384; do
	h=$(echo "$m" | sed 's/.*SHA/sha/')
	ok "pkcs11-tool signs $m, openssl verifies" bash -c "
		pkcs11-tool --module $M --token-label ec --login --pin 1234 -s -m $m --signature-format openssl -i $D/msg -o $D/sig >/dev/null 2>&1 &&
		openssl dgst -$h -verify $D/ec.pub -signature $D/sig $D/msg"
done
for m in SHA256-RSA-PKCS SHA384-RSA-PKCS; do
	h=$(echo "$m" | sed 's/-RSA.*//; s/SHA/sha/')
	ok "pkcs11-tool signs $m, openssl verifies" bash -c "
		pkcs11-tool --module $M --token-label rsa --login --pin 1234 -s -m $m -i $D/msg -o $D/sig >/dev/null 2>&1 &&
		openssl dgst -$h -verify $D/rsa.pub -signature $D/sig $D/msg"
done
ok "pkcs11-tool signs SHA256-RSA-PKCS-PSS, openssl verifies" bash -c "
	pkcs11-tool --module $M --token-label rsa --login --pin 1234 -s -m SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 -i $D/msg -o $D/sig >/dev/null 2>&1 &&
	openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify $D/rsa.pub -signature $D/sig $D/msg"
ok "pkcs11-tool decrypts RSA-PKCS-OAEP in the TPM" bash -c "
	openssl pkeyutl -encrypt -pubin -inkey $D/rsa.pub -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in $D/msg -out $D/ct &&
	pkcs11-tool --module $M --token-label rsa --login --pin 1234 --decrypt -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 -i $D/ct -o $D/pt >/dev/null 2>&1 && cmp $D/pt $D/msg"
ok "pkcs11-tool reads the certificate" bash -c "
	pkcs11-tool --module $M --token-label ec --read-object --type cert --label ec -o $D/cert.der --login --pin 1234 >/dev/null 2>&1 &&
	openssl x509 -inform DER -in $D/cert.der -noout -subject | grep -q 'CN = ec'"
ok "ca kind: a certificate issued for the TPM-born key" bash -c "
	pkcs11-tool --module $M --token-label mint -O --login --pin 1234 2>/dev/null | grep -q 'spiffe\\|Certificate Object'"
for tok in ec rsa; do
	ok "p11tool --test-sign on the $tok token" bash -c \
		"p11tool --provider $M --login --set-pin=1234 --test-sign 'pkcs11:token=$tok;object=$tok;type=private' 2>&1 | tee $RIG_DIR/p11tool-$tok.log | grep -q 'Verifying against public key in the token... ok'"
done

# --- TLS with unmodified clients and servers --------------------------
nginx_start mtls "ssl_certificate $D/server.chain; ssl_certificate_key $D/server.key;
	ssl_client_certificate $D/ca.crt; ssl_verify_client on;
	ssl_protocols TLSv1.2 TLSv1.3;
	location / { return 200 \"client \$ssl_client_s_dn\\n\"; }" || echo "not ok - nginx mtls"
for v in 1.2 1.3; do
	for tok in ec rsa; do
		ok "curl TLS $v mutual TLS with the $tok key in the TPM; nginx sees CN=$tok" bash -c "
			curl -sSf --tlsv$v --tls-max $v --cacert $D/ca.crt \
				--cert 'pkcs11:token=$tok;object=$tok;type=cert?pin-value=1234' \
				--key 'pkcs11:token=$tok;object=$tok;type=private?pin-value=1234' \
				https://127.0.0.1:$NGINX_PORT_mtls/ | grep -q 'CN=$tok'"
	done
done
ok "gnutls-cli (which loads modules through p11-kit): mutual TLS with a pkcs11: key URI" bash -c "
	printf 'GET / HTTP/1.0\r\n\r\n' | gnutls-cli --provider $M --x509cafile $D/ca.crt --x509certfile $D/ec.crt \
		--x509keyfile 'pkcs11:token=ec;object=ec;type=private?pin-value=1234' \
		-p $NGINX_PORT_mtls 127.0.0.1 2>&1 | grep -q 'client CN=ec'"

nginx_start server "ssl_certificate $D/server.chain;
	ssl_certificate_key \"engine:pkcs11:pkcs11:token=server;object=server;type=private?pin-value=1234\";
	location / { return 200 \"served by \$pid\\n\"; }" || echo "not ok - nginx with the key in the TPM"
ok "nginx serves with its key in the TPM (master + 2 workers): 60 handshakes" bash -c "
	for i in \$(seq 60); do curl -sf --cacert $D/ca.crt -H 'Connection: close' https://127.0.0.1:$NGINX_PORT_server/ || exit 1; done >$RIG_DIR/served.txt"
ok "both workers handled handshakes" bash -c "[ \$(sort -u $RIG_DIR/served.txt | wc -l) = 2 ]"
ok "openssl s_client checks the chain" bash -c "
	echo | openssl s_client -connect 127.0.0.1:$NGINX_PORT_server -CAfile $D/ca.crt -verify_return_error 2>&1 | grep -q 'Verify return code: 0'"
port=$(rig_free_port)
openssl s_server -engine pkcs11 -keyform engine -key 'pkcs11:token=ec;object=ec;type=private?pin-value=1234' \
	-cert "$D/ec.chain" -accept "127.0.0.1:$port" -www >"$RIG_DIR/s_server.log" 2>&1 &
echo $! >>"$RIG_DIR/pids"
rig_wait_port "$port"
ok "openssl s_server with the engine key, s_client verifies" bash -c "
	echo | openssl s_client -connect 127.0.0.1:$port -CAfile $D/ca.crt -verify_return_error 2>&1 | grep -q 'Verify return code: 0'"

# --- refusals end to end ----------------------------------------------
A11_MODULE=$M CMOCKA_MESSAGE_OUTPUT=TAP "$BIN/tests/integ/p11_module" 2>"$RIG_DIR/p11_module.err" | grep -E '^(not )?ok '
tpm2_pcrextend -T "$A11_TCTI" 23:sha256=$(printf 'b%.0s' $(seq 64)) >/dev/null
ok "PCR 23 extended before login: refused with the broker's reason" bash -c "
	pkcs11-tool --module $M --token-label ref -O --login --pin 1234 >$RIG_DIR/ref.out 2>&1; r=\$?
	[ \$r != 0 ] && grep -q 'pcr_values' $RIG_DIR/ref.out && ! grep -q 'Private Key' $RIG_DIR/ref.out"
# These two go to the broker: no lease shared by earlier logins (state_dir "").
sed 's#"state_dir": "[^"]*"#"state_dir": ""#' "$ATTEST11_CONF" >"$RIG_DIR/nostate.conf"
ok "wrong broker CA: refused as untrusted" bash -c "
	sed 's#$BROKER_DIR/tls.crt#$D/ca.crt#' $RIG_DIR/nostate.conf >$RIG_DIR/badca.conf
	ATTEST11_CONF=$RIG_DIR/badca.conf pkcs11-tool --module $M --token-label ec -O --login --pin 1234 >$RIG_DIR/badca.out 2>&1
	grep -q 'not trusted' $RIG_DIR/badca.out"
broker_stop
ok "broker stopped: login fails within the 2 s connect timeout" bash -c "
	s=\$(date +%s); ATTEST11_CONF=$RIG_DIR/nostate.conf pkcs11-tool --module $M --token-label ec -O --login --pin 1234 >$RIG_DIR/down.out 2>&1
	[ \$((\$(date +%s) - s)) -le 5 ] && grep -q 'cannot reach the broker' $RIG_DIR/down.out"
