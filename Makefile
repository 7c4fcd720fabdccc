# attest11 — plain GNU make. `make`, `make check`, `make check SANITIZE=1`,
# `make CC=clang`, `make deps`. Objects go to build/<flavour>/.

O := build/$(if $(SANITIZE),san,std)$(if $(filter clang%,$(notdir $(CC))),-clang,)

# Debian packages the build, the tests and the demo need.
DEBS := build-essential pkg-config clang libssl-dev libtss2-dev \
	libtss2-tcti-tabrmd0 tpm2-abrmd tpm2-tools swtpm swtpm-tools gnutls-bin \
	libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev libsqlite3-dev \
	libpq-dev postgresql \
	libcjose-dev libcmocka-dev p11-kit libp11-kit-dev opensc \
	libengine-pkcs11-openssl nginx curl dbus openssl man-db libtpm2-pkcs11-1 softhsm2 jq

WARN := -Wall -Wextra -Werror -Wshadow -Wwrite-strings -Wmissing-prototypes \
	-Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_DEFAULT_SOURCE $(WARN) $(HARDEN)
LDFLAGS += -Wl,-z,relro,-z,now -Wl,--as-needed
ifdef SANITIZE
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

pc = $(shell pkg-config --$(1) $(2) 2>/dev/null)
WIRE_PKGS := libcrypto tss2-mu
TPM_PKGS := tss2-esys tss2-sys tss2-tctildr tss2-rc tss2-mu libcrypto
PROTO_PKGS := jansson
BROKER_PKGS := $(WIRE_PKGS) $(PROTO_PKGS) sqlite3 libpq libmicrohttpd gnutls cjose
ATTESTER_PKGS := $(TPM_PKGS) $(PROTO_PKGS) libcurl
CFLAGS += $(call pc,cflags,$(sort $(BROKER_PKGS) $(ATTESTER_PKGS) p11-kit-1))

COMMON_SRC := $(wildcard src/common/*.c)
WIRE_SRC := $(wildcard src/wire/*.c)
EVENTLOG_SRC := $(wildcard src/eventlog/*.c)
TPM_SRC := $(wildcard src/tpm/*.c)
PROTO_SRC := $(wildcard src/proto/*.c)
BROKER_SRC := $(filter-out src/broker/main.c,$(wildcard src/broker/*.c))
# net_entry.c is attest11-net.so's alone, netload.c attest11.so's alone:
# the programs and tests link client.c itself.
ATTESTER_SRC := $(filter-out src/attester/net_entry.c,$(wildcard src/attester/*.c))
P11_SRC := $(filter-out src/p11/netload.c,$(wildcard src/p11/*.c))
SIMHOST_SRC := $(wildcard src/simhost/*.c)
obj = $(patsubst %.c,$(O)/%.o,$(1))

LIBCOMMON := $(O)/libcommon.a
LIBWIRE := $(O)/libwire.a
# Event log parser and replayer: OpenSSL and src/common only (the broker's verifier).
LIBEVENTLOG := $(O)/libeventlog.a
LIBTPM := $(O)/libtpm.a
LIBPROTO := $(O)/libproto.a
LIBBROKER := $(O)/libbroker.a
LIBATTESTER := $(O)/libattester.a
LIBP11 := $(O)/libp11.a
LIBSIMHOST := $(O)/libsimhost.a
MODULE := $(O)/attest11.so
NETOBJ := $(O)/attest11-net.so
LIBS_BROKER := $(call pc,libs,$(BROKER_PKGS)) -lpthread
LIBS_ALL := $(call pc,libs,$(sort $(BROKER_PKGS) $(ATTESTER_PKGS))) -lpthread
BROKER := $(O)/attest11-broker
CLI := $(O)/attest11
LOAD := $(O)/attest11-load
FLOOR := $(O)/tests/bench/floor

UNIT_SRC := $(wildcard tests/unit/test_*.c)
INTEG_SRC := $(wildcard tests/integ/*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRC))
# test_*: run by tests/run.sh under the rig; others are driven by scripts.
INTEG_BIN := $(patsubst tests/integ/%.c,$(O)/tests/integ/%,$(INTEG_SRC))
TESTLIB := $(O)/tests/testlib.o

PREFIX ?= /usr
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
PKCS11DIR ?= $(PREFIX)/lib/$(MULTIARCH)/pkcs11
P11KITDIR ?= $(PREFIX)/share/p11-kit/modules

.PHONY: all deps check tests clean install demo bench
all: $(LIBCOMMON) $(LIBWIRE) $(LIBEVENTLOG) $(LIBTPM) $(LIBPROTO) $(LIBBROKER) $(LIBATTESTER) $(LIBSIMHOST) \
	$(BROKER) $(CLI) $(LOAD) $(MODULE) $(NETOBJ)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
$(LIBWIRE): $(call obj,$(WIRE_SRC))
$(LIBEVENTLOG): $(call obj,$(EVENTLOG_SRC))
$(LIBTPM): $(call obj,$(TPM_SRC))
$(LIBPROTO): $(call obj,$(PROTO_SRC))
$(LIBBROKER): $(call obj,$(BROKER_SRC))
$(LIBATTESTER): $(call obj,$(ATTESTER_SRC))
$(LIBP11): $(call obj,$(P11_SRC))
$(LIBSIMHOST): $(call obj,$(SIMHOST_SRC))
$(O)/%.a:
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

# The broker never links Esys: its binary gets only broker, proto, wire, common.
$(BROKER): $(O)/src/broker/main.o $(LIBBROKER) $(LIBPROTO) $(LIBWIRE) $(LIBEVENTLOG) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_BROKER)

CLI_SRC := $(wildcard src/cli/*.c)
$(CLI): $(call obj,$(CLI_SRC)) $(LIBP11) $(LIBATTESTER) $(LIBPROTO) $(LIBTPM) $(LIBWIRE) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pc,libs,$(ATTESTER_PKGS)) -lpthread

# The load generator plays TPMs in software: simhost, proto, wire, common
# and the attester's HTTPS client alone (client.o and its broker list,
# brokers.o: nothing else of src/attester), never src/tpm or broker code.
LOAD_SRC := $(wildcard src/load/*.c)
LOAD_PKGS := $(WIRE_PKGS) $(PROTO_PKGS) libcurl
$(LOAD): $(call obj,$(LOAD_SRC) src/attester/client.c src/attester/brokers.c) $(LIBSIMHOST) $(LIBPROTO) \
		$(LIBWIRE) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pc,libs,$(LOAD_PKGS)) -lpthread -lm

# The module exports only the PKCS#11 getters (src/p11/attest11.map).
# -z nodelete: dlclose never unmaps it, so a renewal thread left running by
# an application that unloads without C_Finalize wakes in mapped code
# (docs/pkcs11.md, "Threads and fork"). No libcurl: the HTTPS client is
# attest11-net.so, which src/p11/netload.c loads from beside the module
# when the broker must be reached (docs/pkcs11.md, "The network object").
MODULE_OBJ := $(call obj,$(P11_SRC) src/p11/netload.c \
	$(filter-out src/attester/client.c,$(ATTESTER_SRC)))
$(MODULE): $(MODULE_OBJ) $(LIBPROTO) $(LIBTPM) $(LIBWIRE) $(LIBCOMMON) src/p11/attest11.map
	$(CC) -shared $(LDFLAGS) -Wl,--version-script=src/p11/attest11.map -Wl,-z,defs -Wl,-z,nodelete \
		-o $@ $(filter %.o %.a,$^) $(call pc,libs,$(TPM_PKGS) $(PROTO_PKGS)) -lpthread

# attest11-net.so: client.c and libcurl, one export (src/attester/net.map).
$(NETOBJ): $(call obj,src/attester/client.c src/attester/brokers.c src/attester/net_entry.c) \
		$(LIBCOMMON) \
		src/attester/net.map
	$(CC) -shared $(LDFLAGS) -Wl,--version-script=src/attester/net.map -Wl,-z,defs \
		-o $@ $(filter %.o %.a,$^) $(call pc,libs,libcurl) -lpthread

# Unit tests run without a TPM; integration tests get every layer. The
# simulated host (src/simhost) links only proto, wire and common.
$(O)/tests/unit/%: $(O)/tests/unit/%.o $(TESTLIB) $(LIBP11) $(LIBATTESTER) $(LIBBROKER) \
		$(LIBSIMHOST) $(LIBPROTO) $(LIBTPM) $(LIBWIRE) $(LIBEVENTLOG) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ALL) -lcmocka
$(O)/tests/integ/%: $(O)/tests/integ/%.o $(TESTLIB) $(LIBP11) $(LIBATTESTER) $(LIBBROKER) \
		$(LIBSIMHOST) $(LIBPROTO) $(LIBTPM) $(LIBWIRE) $(LIBEVENTLOG) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ALL) -lcmocka

tests: all $(UNIT_BIN) $(INTEG_BIN) $(FLOOR)

# Installs what is missing first, so `make check` alone works on a fresh machine.
# Under SANITIZE the module is loaded by programs that are not (nginx, curl,
# pkcs11-tool): they get the sanitizer runtimes preloaded.
SAN_PRELOAD := $(if $(SANITIZE),$(shell $(CC) -print-file-name=libasan.so) \
	$(shell $(CC) -print-file-name=libubsan.so))

check: deps
	@$(MAKE) --no-print-directory tests
	@A11_SAN_PRELOAD="$(SAN_PRELOAD)" tests/run.sh $(O)

# The main job, end to end, on loopback (tests/demo.sh).
demo: deps
	@$(MAKE) --no-print-directory all
	@O=$(O) tests/demo.sh

# Performance figures (docs/performance.md); never part of `make check`.
BENCH := $(O)/tests/bench/bench
$(BENCH): $(O)/tests/bench/bench.o $(LIBBROKER) $(LIBTPM) $(LIBWIRE) $(LIBEVENTLOG) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pc,libs,$(sort $(TPM_PKGS) $(BROKER_PKGS))) -lpthread

# One process's start, phase by phase: links libc alone (tests/bench/start.c).
$(O)/tests/bench/start: $(O)/tests/bench/start.o
	$(CC) $(LDFLAGS) -o $@ $^

# The crypto floor of one attestation (tests/bench/floor.c), built with the
# tests so that it keeps compiling; run by tests/bench/capacity.sh.
$(FLOOR): $(O)/tests/bench/floor.o $(LIBBROKER) $(LIBSIMHOST) $(LIBPROTO) $(LIBWIRE) \
		$(LIBEVENTLOG) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_BROKER) $(call pc,libs,gnutls)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH) $(FLOOR) $(O)/tests/bench/start
	@O=$(O) tests/bench/bench.sh

deps:
	@missing=$$(for p in $(DEBS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	cmd="apt-get update && apt-get install -y --no-install-recommends $$(echo $$missing)"; \
	if [ "$$(id -u)" != 0 ]; then echo "missing packages; as root run: $$cmd" >&2; exit 1; fi; \
	echo "installing: $$(echo $$missing)"; \
	DEBIAN_FRONTEND=noninteractive sh -c "$$cmd"

# DESTDIR and PREFIX are honoured; nothing is written outside them.
install: all
	install -d $(DESTDIR)$(PKCS11DIR) $(DESTDIR)$(P11KITDIR) $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/doc/attest11/examples
	install -m 0644 $(MODULE) $(DESTDIR)$(PKCS11DIR)/attest11.so
	install -m 0644 $(NETOBJ) $(DESTDIR)$(PKCS11DIR)/attest11-net.so
	install -m 0644 p11-kit/attest11.module $(DESTDIR)$(P11KITDIR)/attest11.module
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/attest11
	install -m 0755 $(LOAD) $(DESTDIR)$(PREFIX)/bin/attest11-load
	install -m 0755 $(BROKER) $(DESTDIR)$(PREFIX)/sbin/attest11-broker
	install -m 0644 docs/man/attest11.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 docs/man/attest11-load.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 docs/man/attest11.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 docs/man/attest11-broker.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 docs/examples/* $(DESTDIR)$(PREFIX)/share/doc/attest11/examples/

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
