# ngx_http_v3xy_module
#
#   make                      build the module against Debian's nginx
#   make NGINX_SRC=DIR        ... against another nginx source tree
#   make run                  run the sidecar (examples/sidecar.conf)
#   make test                 install what tests need, run every test: on
#                             this Debian 12, then "make test-trixie"
#   make test-trixie          Debian 13's leg: the unit tests, the
#                             Test::Nginx suites (and the Redis ones against
#                             Valkey), make deb and test-deb in a trixie
#                             container, then docker-test of a trixie image
#   make check                the everyday subset: unit tests, 5 s of each
#                             fuzzer, docs against code, the alert rules'
#                             tests, shellcheck, the Test::Nginx suites
#   make valgrind             the Test::Nginx suites under memcheck
#   make bench                wrk: the module's paths against plain nginx
#                             (and bench/scale.sh at 10,000 and 100,000 keys)
#   make bench-scale          bench/scale.sh: 10,000 to 1,000,000 keys, the
#                             chart into bench/scale.svg
#   make soak                 bench/soak.sh: SOAK_MINUTES (10) under
#                             Redis kills, reloads and key rotations
#   make deb                  the Debian package, in build/
#   make test-deb             lintian, install, nginx -t, remove, purge
#   make test-valkey          the Redis suites against Valkey (Debian 13)
#   make image                the container image (podman, debootstrap base
#                             of SUITE: trixie, or SUITE=bookworm)
#   make docker-test          run the image: Redis, sidecars, compose file
#   make clean-image          remove the images from podman's storage

NGINX_SRC  ?= /usr/share/nginx/src
NGINX_BIN  ?= /usr/sbin/nginx
BUILD      ?= build
KEY_FILE   ?= /etc/v3xy/api_key
JOBS       ?= 2
# the image's Debian release (docker/Dockerfile's default is trixie's)
SUITE      ?= trixie
IMAGE      ?= localhost/v3xy-sidecar:$(SUITE)
BASE_IMAGE ?= localhost/v3xy-base:$(SUITE)

# Debian's build goes to build/; another nginx's stays in its own directory
ifeq ($(abspath $(NGINX_SRC)),/usr/share/nginx/src)
NGX_BUILD  := $(BUILD)/nginx-debian
MODULE     := $(BUILD)/ngx_http_v3xy_module.so
else
NGX_BUILD  := $(BUILD)/nginx-$(notdir $(abspath $(NGINX_SRC)))
MODULE     := $(NGX_BUILD)/ngx_http_v3xy_module.so
endif
TN_DIR     := $(BUILD)/test-nginx
TN_LIB     := $(TN_DIR)/root/usr/share/perl5

CORE_SRCS  := $(wildcard src/*.c)
CORE_HDRS  := $(wildcard src/*.h)
UNIT_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
UNIT_FLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra \
              -Werror -pedantic -Isrc

# libFuzzer (clang, libclang-rt-dev): make fuzz [FUZZ_SECONDS=60], each
# target that long; the corpora grow in build/fuzz/sig and
# build/fuzz/email, crashes are written to build/fuzz/
FUZZ_SECONDS ?= 60
FUZZ_CC    ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all -Wall -Wextra -Werror -Isrc

# the Debian package: its version from debian/changelog
DEB_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB_ARCH   := $(shell dpkg --print-architecture)
DEB        := $(BUILD)/libnginx-mod-http-v3xy_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_SRCS   := config Makefile README.md $(wildcard docs/*.md) \
              $(CORE_SRCS) $(CORE_HDRS) \
              $(wildcard ngx_v3xy_module/* examples/*.conf debian/control \
                         debian/rules debian/changelog debian/copyright \
                         debian/*.docs debian/*.examples debian/source/*) \
              util/configure-nginx.sh util/build-deb.sh
# what dpkg-buildpackage leaves in debian/
DEB_LEFT   := debian/.debhelper debian/debhelper-build-stamp debian/files \
              debian/*.substvars debian/*.debhelper debian/*.debhelper.log \
              debian/tmp debian/libnginx-mod-http-v3xy \
              debian/libnginx-mod-http-v3xy-dbgsym

# random free ports and one servroot per suite: suites run in parallel
export TEST_NGINX_RANDOMIZE    ?= 1
export TEST_NGINX_BINARY       ?= $(NGINX_BIN)
export TEST_NGINX_LOAD_MODULES ?= $(abspath $(MODULE))

.PHONY: all module deps deps-test run test test-unit test-nginx test-examples \
        test-nginx-lib \
        test-nodebug check check-docs check-alerts shellcheck check-imports \
        fuzz-short \
        valgrind bench bench-scale soak clean deb test-deb image docker-test \
        clean-image test-trixie test-valkey

all: module

deps:
	@util/deps.sh build

deps-test:
	@util/deps.sh test

$(NGX_BUILD)/objs/Makefile: config util/configure-nginx.sh
	util/configure-nginx.sh $(NGINX_SRC) $(NGX_BUILD) .

module: deps $(NGX_BUILD)/objs/Makefile
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new file, not new contents under running nginx processes
	cp $(NGX_BUILD)/objs/ngx_http_v3xy_module.so $(MODULE).tmp
	mv -f $(MODULE).tmp $(MODULE)

run: module
	@util/run-sidecar.sh $(NGINX_BIN) $(MODULE) "$(KEY_FILE)" $(BUILD)/run

$(BUILD)/tests/%: tests/%.c $(CORE_SRCS) $(CORE_HDRS) tests/v3xy_test.h
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_FLAGS) -pthread -o $@ $< $(CORE_SRCS) -lcmocka -ljansson \
	    -lhiredis \
	    -lcrypto -lutf8proc -lidn2

test-unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do echo "== $$t"; $$t || exit 1; done

.PHONY: fuzz

$(BUILD)/fuzz_sig: tests/fuzz_sig.c src/v3xy_sig.c src/v3xy_sig.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz_sig.c src/v3xy_sig.c -lcrypto

$(BUILD)/fuzz_email: tests/fuzz_email.c src/v3xy_email.c src/v3xy_email.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz_email.c src/v3xy_email.c \
	    -lutf8proc -lidn2

fuzz: $(BUILD)/fuzz_sig $(BUILD)/fuzz_email
	@mkdir -p $(BUILD)/fuzz/sig $(BUILD)/fuzz/email
	cp tests/fuzz/sig/* $(BUILD)/fuzz/sig/
	$(BUILD)/fuzz_sig -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/sig
	cp tests/fuzz/email/* $(BUILD)/fuzz/email/
	$(BUILD)/fuzz_email -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -dict=tests/fuzz/email.dict -artifact_prefix=$(BUILD)/fuzz/email- \
	    $(BUILD)/fuzz/email

# Test::Nginx: the machine's own if perl finds one (then TN_LIB stays
# empty, so that PERL5LIB hides nothing), else Debian's, fetched into TN_DIR
TN_STAMP   := $(TN_DIR)/.ready

$(TN_STAMP):
	@perl -MTest::Nginx::Socket -e1 2>/dev/null \
	    || util/get-test-nginx.sh $(TN_DIR)
	@mkdir -p $(TN_DIR) && touch $@

test-nginx-lib: $(TN_STAMP)

test-nginx: module $(TN_STAMP)
	@echo "test-nginx: $$(nginx -v 2>&1 | sed 's/.*: //'), $$($(REDIS_SERVER) \
	    --version | cut -d' ' -f1-3)"
	PERL5LIB=$(abspath $(TN_LIB))$${PERL5LIB:+:$$PERL5LIB} prove -j$(JOBS) -r t

# the suites that use Redis, against another server of its protocol by that
# server's own names (t/lib/V3xy.pm: TEST_V3XY_REDIS_SERVER, ..._CLI)
REDIS_SERVER  ?= $(or $(TEST_V3XY_REDIS_SERVER),redis-server)
VALKEY_SERVER ?= valkey-server
VALKEY_CLI    ?= valkey-cli
REDIS_SUITES  := $(shell grep -lE 'start_(redis|cluster|sentinels)' t/*.t)

test-valkey: module $(TN_STAMP)
	@# every suite runs the server and cli that t/lib/V3xy.pm names
	@! grep -nE "(exec|system|open).*['\"]redis-(server|cli|sentinel)[ '\"]" \
	    t/*.t t/lib/*.pm || { echo "test-valkey: a suite names Redis's" \
	    "binaries, not \$$V3xy::REDIS_SERVER or ..._CLI" >&2; exit 1; }
	@echo "test-valkey: $$($(VALKEY_SERVER) --version | cut -d' ' -f1-3)," \
	    "$(words $(REDIS_SUITES)) suites"
	TEST_V3XY_REDIS_SERVER=$(VALKEY_SERVER) \
	TEST_V3XY_REDIS_CLI=$(VALKEY_CLI) \
	PERL5LIB=$(abspath $(TN_LIB))$${PERL5LIB:+:$$PERL5LIB} \
	    prove -j$(JOBS) $(REDIS_SUITES)

test-examples: module
	@util/check-examples.sh $(NGINX_BIN) $(MODULE) $(BUILD)

# the sources as an nginx without --with-debug compiles them (mainline's
# default; Debian's nginx has debug)
test-nodebug: module
	@util/check-nodebug.sh $(NGX_BUILD)

deb: $(DEB)

$(DEB): $(DEB_SRCS)
	@util/deps.sh deb
	util/build-deb.sh $(BUILD)

test-deb: $(DEB)
	@util/deps.sh deb-test
	util/test-deb.sh $(DEB) $(BUILD)

image:
	@util/deps.sh image
	util/build-image.sh $(BUILD) $(BASE_IMAGE) $(IMAGE) $(SUITE)

docker-test: image
	util/test-image.sh $(IMAGE) $(BASE_IMAGE) $(BUILD) $(SUITE)
	util/test-compose.sh $(BUILD)

# Debian 13's leg of "make test": in a container of a debootstrap base of
# trixie (util/test-release.sh; the base and the tools stay in podman's
# storage and build/, so that a second run is warm), then the image on
# trixie from the host
test-trixie: $(TN_STAMP)
	@util/deps.sh image
	util/test-release.sh trixie $(BUILD)
	$(MAKE) docker-test SUITE=trixie

# the images stay in podman's storage after "make clean"
clean-image:
	@# one by one: podman 4.3 removes none of the names if one is missing
	-for i in $(foreach s,bookworm trixie,localhost/v3xy-sidecar:$(s) \
	    localhost/v3xy-base:$(s) localhost/v3xy-testkit:$(s) \
	    localhost/v3xy-testenv:$(s)); do podman rmi -f $$i; done
	-podman image prune -f
	rm -rf $(BUILD)/image

# every directive, variable and error code of the code documented in docs/,
# nothing documented that the code lacks, no broken link
check-docs:
	@util/check-docs.sh

# the alert rules of examples/prometheus/ load (with the example
# prometheus.yml) and pass their unit tests (t/071-metrics-kit.t checks
# them and the Grafana dashboard against a real scrape)
check-alerts:
	promtool check config examples/prometheus/prometheus.yml
	promtool test rules examples/prometheus/v3xy.rules.test.yml

# every script of util/, bench/, docker/ and .ci/
shellcheck:
	@util/shellcheck.sh

# the glue's capabilities use each other without a cycle (util/imports.sh,
# from the objects of "make module")
check-imports: module
	@util/imports.sh > $(BUILD)/imports.txt \
	    || { cat $(BUILD)/imports.txt; exit 1; }
	@echo "check-imports: capabilities: $$(tail -n 1 $(BUILD)/imports.txt \
	    | sed 's/^ *//') (build/imports.txt)"

# 5 seconds of each fuzzer: the fuzzer's own output is long, so its log on
# failure, its stats always
fuzz-short:
	@mkdir -p $(BUILD)
	@$(MAKE) fuzz FUZZ_SECONDS=5 > $(BUILD)/fuzz.log 2>&1 \
	    || { tail -n 60 $(BUILD)/fuzz.log; exit 1; }
	@grep -E '^(Done|stat::number_of_executed_units)' $(BUILD)/fuzz.log

# everyday work: what a change to the module can break, in a few minutes
check: deps-test
	$(MAKE) check-docs
	$(MAKE) check-alerts
	$(MAKE) shellcheck
	$(MAKE) module
	$(MAKE) check-imports
	$(MAKE) test-unit
	$(MAKE) fuzz-short
	$(MAKE) test-nginx

# everything, as CI runs it (.ci/run): the everyday checks, then the rest,
# on this machine's Debian 12 (the image on bookworm), then Debian 13's leg
test: deps-test
	$(MAKE) check
	$(MAKE) test-examples
	$(MAKE) test-nodebug
	$(MAKE) test-deb
	$(MAKE) docker-test SUITE=bookworm
	$(MAKE) test-trixie

# memcheck's findings do not fail Test::Nginx tests: fail on any of them
valgrind: deps-test
	@util/deps.sh valgrind
	$(MAKE) module test-nginx-lib
	@TEST_NGINX_USE_VALGRIND=1 \
	PERL5LIB=$(abspath $(TN_LIB))$${PERL5LIB:+:$$PERL5LIB} \
	    prove -j$(JOBS) -r t > $(BUILD)/valgrind.log 2>&1; rc=$$?; \
	    cat $(BUILD)/valgrind.log; \
	    if grep -q '^==[0-9]*== ' $(BUILD)/valgrind.log; then \
	        echo "valgrind: memcheck reported errors or leaks" \
	             "(see $(BUILD)/valgrind.log)"; exit 1; \
	    fi; \
	    exit $$rc

bench: deps-test module
	@util/deps.sh bench
	bench/run.sh $(NGINX_BIN) $(MODULE)
	bench/webhooks.sh $(NGINX_BIN) $(MODULE)
	bench/gateway.sh $(NGINX_BIN) $(MODULE)
	bench/tiers.sh $(NGINX_BIN) $(MODULE)
	bench/failover.sh $(NGINX_BIN) $(MODULE)
	bench/metrics.sh $(NGINX_BIN) $(MODULE)
	bench/cluster.sh $(NGINX_BIN) $(MODULE)
	SCALE_KEYS="10000 100000" ROUNDS=3 SCALE_OUT=$(BUILD)/bench \
	    bench/scale.sh $(NGINX_BIN) $(MODULE)

# endurance, not in make test: SOAK_MINUTES (10) of mixed traffic while
# Redis is killed, nginx reloaded and the key rotated (bench/soak.sh)
soak: deps-test module
	@util/deps.sh bench
	bench/soak.sh $(NGINX_BIN) $(MODULE)

# the full curve, its data and chart into bench/ (bench/README.md links it)
bench-scale: deps-test module
	@util/deps.sh bench
	bench/scale.sh $(NGINX_BIN) $(MODULE)

clean:
	rm -rf $(BUILD) $(DEB_LEFT)
