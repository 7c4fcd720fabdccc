#!/usr/bin/env bash
# attest11.so with unmodified clients: pkcs11-tool, p11tool, curl and
# nginx through the OpenSSL pkcs11 engine, openssl s_server/s_client;
# the p11-kit registration `make install` puts in place (p11-kit
# list-modules, p11-kit-proxy, gnutls-cli without --provider); refusals
# end to end.
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

# --- registration with p11-kit (make install) -------------------------
# What `make install` puts in place, tested where p11-kit looks for it
# without writing the machine's /usr or /etc: p11kit_ns runs a command in
# a private mount namespace (unshare needs root, which the rig has
# already; p11-kit's directories come from its pkg-config file and are
# what it opens, checked with strace) in which p11-kit's package
# .module directory (p11_module_configs) and its module directory
# (p11_module_path, where "module: attest11.so" resolves) are bind mounts
# of a `make install DESTDIR=` tree. Private propagation keeps the mounts
# out of the host's namespace; they end with the command. As root p11-kit
# reads no user configuration; /etc/pkcs11 (pkcs11.conf, modules/), where
# a machine has one, is hidden behind an empty directory.
# Only attest11.module is registered there, not the machine's other
# .module files: tpm2_pkcs11's C_Initialize creates a database under
# $HOME (/root here), opensc's probes pcscd, and a check that passes must
# owe it to attest11's registration alone, whatever else is installed.
P11_MODULE_PATH=$(pkg-config --variable p11_module_path p11-kit-1)
P11_MODULE_CONFIGS=$(pkg-config --variable p11_module_configs p11-kit-1)
P11_PROXY=$(pkg-config --variable proxy_module p11-kit-1)
P11_ROOT=$RIG_DIR/p11kit-root
P11_MODS=$P11_ROOT$P11_MODULE_CONFIGS
mkdir -p "$RIG_DIR/p11kit-empty"
make -s install DESTDIR="$P11_ROOT" PREFIX=/usr O="$O" >"$RIG_DIR/p11kit-install.log" 2>&1 ||
	{ echo "not ok - make install DESTDIR"; cat "$RIG_DIR/p11kit-install.log"; }
# p11kit_ns MODULE-FILES-DIR CMD...: CMD with MODULE-FILES-DIR as the
# .module directory and the installed tree's pkcs11/ as the module one.
p11kit_ns() {
	# shellcheck disable=SC2016 # the inner sh expands its own arguments
	unshare --mount --propagation private sh -c '
		mount -n --bind "$1" "$2" && mount -n --bind "$3" "$4" &&
		{ [ ! -d /etc/pkcs11 ] || mount -n --bind "$5" /etc/pkcs11; } && shift 5 && exec "$@"' \
		p11kit_ns "$1" "$P11_MODULE_CONFIGS" "$P11_ROOT$P11_MODULE_PATH" "$P11_MODULE_PATH" \
		"$RIG_DIR/p11kit-empty" "${@:2}"
}
# list-modules names a module after its .module file and prints the
# "module:" value as written ("attest11: attest11.so"), then its tokens.
ok "p11-kit list-modules shows attest11 (installed attest11.module, attest11.so) with its six tokens" \
	p11kit_ns "$P11_MODS" bash -c "p11-kit list-modules >$RIG_DIR/list-modules.out 2>&1
		awk '/^[^ ]/ {m = \$0} m == \"attest11: attest11.so\" && /^    token: / {t = t \" \" \$2}
			END {exit t != \" ec rsa server mint bound ref\"}' $RIG_DIR/list-modules.out ||
		{ head -n 12 $RIG_DIR/list-modules.out; exit 1; }"
ok "p11-kit-proxy serves attest11's six tokens" p11kit_ns "$P11_MODS" bash -c "
	[ \"\$(pkcs11-tool --module $P11_PROXY -L | sed -n 's/^ *token label *: //p' | sort | tr '\n' ' ')\" = 'bound ec mint ref rsa server ' ]"
ok "through p11-kit-proxy: login to the ec token, ECDSA-SHA256 in the TPM, openssl verifies" \
	p11kit_ns "$P11_MODS" bash -c "
	pkcs11-tool --module $P11_PROXY --token-label ec --login --pin 1234 -s -m ECDSA-SHA256 --signature-format openssl -i $D/msg -o $D/proxy.sig >/dev/null 2>&1 &&
	openssl dgst -sha256 -verify $D/ec.pub -signature $D/proxy.sig $D/msg"
# The module file's documented option, set to a copy of the configuration
# whose token labels exist nowhere else ("x-ec", ...).
P11_XINIT=$RIG_DIR/p11kit-xinit
mkdir -p "$P11_XINIT"
sed 's/"label": "/"label": "x-/g' "$ATTEST11_CONF" >"$RIG_DIR/x-init.conf"
sed "s|^# x-init-reserved: conf=.*|x-init-reserved: conf=$RIG_DIR/x-init.conf|" "$P11_MODS/attest11.module" \
	>"$P11_XINIT/attest11.module"
ok "x-init-reserved: conf=FILE in attest11.module, ATTEST11_CONF unset: the module reads FILE (proxy lists x-ec, login works)" \
	p11kit_ns "$P11_XINIT" env -u ATTEST11_CONF bash -c "
	grep -qx 'x-init-reserved: conf=$RIG_DIR/x-init.conf' $P11_XINIT/attest11.module &&
	pkcs11-tool --module $P11_PROXY -L | grep -q 'token label *: x-ec\$' &&
	pkcs11-tool --module $P11_PROXY --token-label x-ec -O --login --pin 1234 2>&1 | grep -q 'Private Key Object; EC'"

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
# gnutls-cli without --provider loads the modules registered with p11-kit.
gnutls_ec="printf 'GET / HTTP/1.0\r\n\r\n' | gnutls-cli --x509cafile $D/ca.crt --x509certfile $D/ec.crt \
	--x509keyfile 'pkcs11:token=ec;object=ec;type=private?pin-value=1234' \
	-p $NGINX_PORT_mtls 127.0.0.1 >$RIG_DIR/gnutls.out 2>&1"
ok "gnutls-cli without --provider finds attest11 by its installed p11-kit registration: mutual TLS with a pkcs11: key URI, nginx sees CN=ec" \
	p11kit_ns "$P11_MODS" bash -c "$gnutls_ec; grep -q 'client CN=ec' $RIG_DIR/gnutls.out"
ok "control: with no attest11.module registered, the same gnutls-cli cannot load the pkcs11: key" \
	p11kit_ns "$RIG_DIR/p11kit-empty" bash -c "! { $gnutls_ec; } && grep -q 'Error loading url: The requested PKCS #11 object is not available' $RIG_DIR/gnutls.out &&
		! grep -q 'client CN=' $RIG_DIR/gnutls.out"

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
# Without OPENSSL_CONF: the driver calls the module directly, and the
# pkcs11 engine that configuration loads leaks at exit (RSA_meth_dup), which
# LeakSanitizer would report as this driver's failure.
A11_MODULE=$M CMOCKA_MESSAGE_OUTPUT=TAP env -u OPENSSL_CONF "$BIN/tests/integ/p11_module" \
	>"$RIG_DIR/p11_module.out" 2>"$RIG_DIR/p11_module.err"
rc=$?
grep -E '^(not )?ok ' "$RIG_DIR/p11_module.out"
ok "the PKCS#11 driver exits cleanly (no crash, no leak under SANITIZE=1)" test "$rc" = 0
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
ok "a misspelt member of attest11.conf stops C_Initialize, naming it" bash -c "
	sed 's#\"state_dir\"#\"state_dri\"#' $ATTEST11_CONF >$RIG_DIR/typo.conf
	! ATTEST11_CONF=$RIG_DIR/typo.conf pkcs11-tool --module $M -L >$RIG_DIR/typo.out 2>&1 &&
	grep -q 'attest11.conf: unknown member state_dri' $RIG_DIR/typo.out"
broker_stop
ok "broker stopped: login fails within the 2 s connect timeout" bash -c "
	s=\$(date +%s); ATTEST11_CONF=$RIG_DIR/nostate.conf pkcs11-tool --module $M --token-label ec -O --login --pin 1234 >$RIG_DIR/down.out 2>&1
	[ \$((\$(date +%s) - s)) -le 5 ] && grep -q 'cannot reach the broker' $RIG_DIR/down.out"
