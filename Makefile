# attest11 — plain GNU make. `make`, `make check`, `make check SANITIZE=1`,
# `make CC=clang`, `make deps`. Objects go to build/<flavour>/.

O := build/$(if $(SANITIZE),san,std)$(if $(filter clang%,$(notdir $(CC))),-clang,)

# Debian packages the build, the tests and the demo need.
DEBS := build-essential pkg-config clang libssl-dev libtss2-dev \
	libtss2-tcti-tabrmd0 tpm2-abrmd tpm2-tools swtpm swtpm-tools gnutls-bin \
	libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libsqlite3-dev \
	libcjose-dev libcmocka-dev p11-kit libp11-kit-dev opensc \
	libengine-pkcs11-openssl nginx curl dbus openssl

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
TPM_PKGS := tss2-esys tss2-tctildr tss2-rc tss2-mu libcrypto
PROTO_PKGS := jansson
BROKER_PKGS := $(WIRE_PKGS) $(PROTO_PKGS) sqlite3 libmicrohttpd cjose
ATTESTER_PKGS := $(TPM_PKGS) $(PROTO_PKGS) libcurl
CFLAGS += $(call pc,cflags,$(sort $(BROKER_PKGS) $(ATTESTER_PKGS)))

COMMON_SRC := $(wildcard src/common/*.c)
WIRE_SRC := $(wildcard src/wire/*.c)
TPM_SRC := $(wildcard src/tpm/*.c)
PROTO_SRC := $(wildcard src/proto/*.c)
BROKER_SRC := $(filter-out src/broker/main.c,$(wildcard src/broker/*.c))
ATTESTER_SRC := $(wildcard src/attester/*.c)
obj = $(patsubst %.c,$(O)/%.o,$(1))

LIBCOMMON := $(O)/libcommon.a
LIBWIRE := $(O)/libwire.a
LIBTPM := $(O)/libtpm.a
LIBPROTO := $(O)/libproto.a
LIBBROKER := $(O)/libbroker.a
LIBATTESTER := $(O)/libattester.a
LIBS_BROKER := $(call pc,libs,$(BROKER_PKGS)) -lpthread
LIBS_ALL := $(call pc,libs,$(sort $(BROKER_PKGS) $(ATTESTER_PKGS))) -lpthread
BROKER := $(O)/attest11-broker
CLI := $(O)/attest11

UNIT_SRC := $(wildcard tests/unit/test_*.c)
INTEG_SRC := $(wildcard tests/integ/*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRC))
# test_*: run by tests/run.sh under the rig; others are driven by scripts.
INTEG_BIN := $(patsubst tests/integ/%.c,$(O)/tests/integ/%,$(INTEG_SRC))
TESTLIB := $(O)/tests/testlib.o

.PHONY: all deps check tests clean
all: $(LIBCOMMON) $(LIBWIRE) $(LIBTPM) $(LIBPROTO) $(LIBBROKER) $(LIBATTESTER) $(BROKER) $(CLI)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
$(LIBWIRE): $(call obj,$(WIRE_SRC))
$(LIBTPM): $(call obj,$(TPM_SRC))
$(LIBPROTO): $(call obj,$(PROTO_SRC))
$(LIBBROKER): $(call obj,$(BROKER_SRC))
$(LIBATTESTER): $(call obj,$(ATTESTER_SRC))
$(O)/%.a:
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

# The broker never links Esys: its binary gets only broker, proto, wire, common.
$(BROKER): $(O)/src/broker/main.o $(LIBBROKER) $(LIBPROTO) $(LIBWIRE) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_BROKER)

$(CLI): $(O)/src/cli/attest11.o $(LIBATTESTER) $(LIBPROTO) $(LIBTPM) $(LIBWIRE) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pc,libs,$(ATTESTER_PKGS)) -lpthread

# Unit tests run without a TPM; integration tests get every layer.
$(O)/tests/unit/%: $(O)/tests/unit/%.o $(TESTLIB) $(LIBBROKER) $(LIBPROTO) $(LIBWIRE) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_BROKER) $(call pc,libs,libcurl) -lcmocka
$(O)/tests/integ/%: $(O)/tests/integ/%.o $(TESTLIB) $(LIBATTESTER) $(LIBBROKER) $(LIBPROTO) \
		$(LIBTPM) $(LIBWIRE) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ALL) -lcmocka

tests: all $(UNIT_BIN) $(INTEG_BIN)

# Installs what is missing first, so `make check` alone works on a fresh machine.
check: deps
	@$(MAKE) --no-print-directory tests
	@tests/run.sh $(O)

deps:
	@missing=$$(for p in $(DEBS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	cmd="apt-get update && apt-get install -y --no-install-recommends $$(echo $$missing)"; \
	if [ "$$(id -u)" != 0 ]; then echo "missing packages; as root run: $$cmd" >&2; exit 1; fi; \
	echo "installing: $$(echo $$missing)"; \
	DEBIAN_FRONTEND=noninteractive sh -c "$$cmd"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
