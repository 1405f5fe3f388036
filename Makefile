# forkpool: one GNU Makefile for the daemon, the library, the command, the
# modules, the tests and the benchmark.
#
#   make            build everything into build/
#   make deps       install the Debian packages the build and tests need
#   make run        start forkpoold in the foreground on conf/forkpool.ini
#   make check      build and run the test suite
#   make bench      run the benchmark against multiprocessing.Pool
#   make bench-redis  forkpool-redis against Celery on the same Redis
#   make check SANITIZE=address,undefined    the same under sanitizers
#   V=1             show the commands

.DEFAULT_GOAL	:= all

PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
BINDIR		?= $(PREFIX)/bin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MODULEDIR	?= $(LIBDIR)/forkpool/modules

CC		?= cc
SANITIZE	?=
ifeq ($(SANITIZE),)
BUILD		?= build
else
BUILD		?= build-san
endif
B		:= $(BUILD)

SOVERSION	:= 0
LIBVERSION	:= 0.1.0

WARNINGS	:= -Wall -Wextra -Wformat=2 -Wstrict-prototypes \
		   -Wmissing-prototypes -Wmissing-declarations -Wshadow \
		   -Wpointer-arith -Wcast-qual -Wsign-compare -Wwrite-strings
OPT		?= -O2 -g
CFLAGS		?=
CFLAGS_ALL	 = $(OPT) -std=gnu11 $(WARNINGS) $(CFLAGS) -D_GNU_SOURCE \
		   -Ilib -fno-strict-aliasing -MMD -MP $(DEPS_CFLAGS) \
		   -DFORKPOOL_VERSION='"$(LIBVERSION)"'
LDFLAGS_ALL	 = $(LDFLAGS)
ifneq ($(SANITIZE),)
CFLAGS_ALL	+= -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS_ALL	+= -fsanitize=$(SANITIZE)
endif
ifeq ($(WERROR),1)
CFLAGS_ALL	+= -Werror
endif

ifeq ($(V),1)
Q		:=
say		 = @true
else
Q		:= @
say		 = @printf '  %-6s %s\n'
endif

# The libraries, found by tools/deps.sh.  Goals that need no compiler do
# not trigger the look-up.  Only make deps, and the goals that depend on
# it, install what is missing (as root); a plain make stops and prints the
# apt-get command instead.  config.mk is made before any goal runs, so
# those goals pass --install there too, or a fresh root's make check
# would stop before reaching deps.
NODEPS_GOALS	:= clean distclean
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
include $(B)/config.mk
endif
DEPS_GOALS	:= deps check check-redis run bench bench-redis deb \
		   check-system fuzz fuzz-short valgrind
ifneq ($(filter $(DEPS_GOALS),$(MAKECMDGOALS)),)
DEPS_FLAGS	:= --install
endif

$(B)/config.mk: tools/deps.sh
	@mkdir -p $(B)
	$(Q)sh tools/deps.sh $(DEPS_FLAGS) > $@.tmp && mv $@.tmp $@

# The tests' and tools' packages too (redis-server, clang, valgrind...).
deps:
	$(Q)sh tools/deps.sh --install >/dev/null

.PHONY: deps

# Rebuild everything when the flags change.
SETTINGS	:= $(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $(MODULEDIR)
$(B)/.settings: FORCE
	@mkdir -p $(B)
	@echo '$(SETTINGS)' | cmp -s - $@ || echo '$(SETTINGS)' > $@

# libforkpool: the codec and the client API.
LIB_SRCS	:= \
	lib/client.c \
	lib/connect.c \
	lib/proto.c \
	lib/wchan.c \
	lib/wloop.c \
	lib/worker.c

# forkpoold
DAEMON_SRCS	:= \
	daemon/child.c \
	daemon/client.c \
	daemon/clock.c \
	daemon/config.c \
	daemon/config_key.c \
	daemon/config_read.c \
	daemon/config_table.c \
	daemon/config_value.c \
	daemon/conn.c \
	daemon/contain.c \
	daemon/gen.c \
	daemon/ids.c \
	daemon/intensity.c \
	daemon/listen.c \
	daemon/log.c \
	daemon/main.c \
	daemon/master.c \
	daemon/metrics.c \
	daemon/module.c \
	daemon/output.c \
	daemon/pool.c \
	daemon/quarantine.c \
	daemon/reload.c \
	daemon/sdnotify.c \
	daemon/share.c \
	daemon/status.c \
	daemon/task.c \
	daemon/taskmap.c \
	daemon/wframe.c \
	daemon/worker.c \
	daemon/xmalloc.c

CLI_SRCS	:= \
	cli/bench.c \
	cli/forkpool.c \
	cli/hist.c \
	cli/map.c \
	cli/reload.c \
	cli/status.c \
	cli/table.c \
	cli/term.c \
	cli/top.c

# forkpool-redis: the Redis Streams bridge, with the daemon's log,
# allocation and sd_notify files.
BRIDGE_SRCS	:= \
	bridge/config.c \
	bridge/feed.c \
	bridge/local.c \
	bridge/main.c \
	bridge/metrics.c \
	bridge/outcome.c \
	bridge/rlink.c \
	bridge/submit.c \
	bridge/take.c
BRIDGE_DAEMON_SRCS := \
	daemon/log.c \
	daemon/sdnotify.c \
	daemon/xmalloc.c

MODULES		:= $(B)/modules/deflate.so
TEST_MODULES	:= $(B)/tests/modules/faulty.so
TEST_PROGRAMS	:= $(B)/tests/programs/cupper \
		   $(B)/tests/programs/modhost

# Unit suites link these daemon objects without main.c.
TEST_DAEMON_SRCS := \
	daemon/clock.c \
	daemon/config.c \
	daemon/config_key.c \
	daemon/config_read.c \
	daemon/config_table.c \
	daemon/config_value.c \
	daemon/ids.c \
	daemon/quarantine.c \
	daemon/intensity.c \
	daemon/log.c \
	daemon/output.c \
	daemon/taskmap.c \
	daemon/xmalloc.c

TEST_SRCS	:= \
	tests/check_main.c \
	tests/check_proto.c \
	tests/check_config.c \
	tests/check_intensity.c \
	tests/check_taskmap.c \
	tests/check_output.c \
	tests/check_client_lib.c \
	tests/check_daemon.c \
	tests/check_errors.c \
	tests/check_workers.c \
	tests/check_deflate.c \
	tests/check_stop.c \
	tests/check_cli.c \
	tests/check_systemd.c \
	tests/check_reload.c \
	tests/check_metrics.c \
	tests/check_quarantine.c \
	tests/check_hardening.c \
	tests/check_program.c \
	tests/check_worker_lib.c \
	tests/check_share.c \
	tests/check_trust.c \
	tests/check_contain.c \
	tests/harness.c \
	tests/harness_util.c \
	tests/key_values.c

obj		 = $(patsubst %.c,$(B)/obj/%.o,$(1))
pic		 = $(patsubst %.c,$(B)/pic/%.o,$(1))

LIB_A		:= $(B)/libforkpool.a
LIB_SO		:= $(B)/libforkpool.so.$(LIBVERSION)
LIB_SONAME	:= libforkpool.so.$(SOVERSION)
FORKPOOLD	:= $(B)/forkpoold
FORKPOOL	:= $(B)/forkpool
CHECK_BIN	:= $(B)/tests/check_forkpool
FORKPOOL_REDIS	:= $(B)/forkpool-redis

all: $(FORKPOOLD) $(FORKPOOL) $(LIB_A) $(LIB_SO) $(MODULES) $(FORKPOOL_REDIS)

$(B)/obj/%.o: %.c $(B)/.settings
	$(say) CC $<
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_ALL) -DFP_MODULE_DIR='"$(MODULEDIR)"' -c -o $@ $<

$(B)/pic/%.o: %.c $(B)/.settings
	$(say) CC $<
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_ALL) -fPIC $(PIC_VISIBILITY) -DFP_BUILDING_LIB \
	    -c -o $@ $<

$(LIB_A): $(call pic,$(LIB_SRCS))
	$(say) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(call pic,$(LIB_SRCS))
	$(say) LD $@
	$(Q)$(CC) -shared -Wl,-soname,$(LIB_SONAME) $(LDFLAGS_ALL) -o $@ $^
	$(Q)ln -sf libforkpool.so.$(LIBVERSION) $(B)/$(LIB_SONAME)
	$(Q)ln -sf $(LIB_SONAME) $(B)/libforkpool.so

$(FORKPOOLD): $(call obj,$(DAEMON_SRCS)) $(LIB_A)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(EVENT_LIBS) $(INIH_LIBS) \
	    $(JANSSON_LIBS) $(XXHASH_LIBS) $(SECCOMP_LIBS) -ldl

$(FORKPOOL): $(call obj,$(CLI_SRCS)) $(LIB_A)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -pthread -o $@ $^ $(JANSSON_LIBS) -lm

$(FORKPOOL_REDIS): $(call obj,$(BRIDGE_SRCS) $(BRIDGE_DAEMON_SRCS)) $(LIB_A)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(HIREDIS_LIBS) $(EVENT_LIBS) \
	    $(INIH_LIBS)

$(call obj,$(BRIDGE_SRCS)): CFLAGS_ALL += $(HIREDIS_CFLAGS) -Idaemon

$(B)/modules/%.so: $(B)/pic/modules/%.o
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) -shared $(LDFLAGS_ALL) -o $@ $^ $(ZLIB_LIBS)

$(B)/tests/modules/%.so: $(B)/pic/tests/modules/%.o
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) -shared $(LDFLAGS_ALL) -o $@ $^

# Test program workers, linked with the static library as a user would.
$(B)/tests/programs/%: $(B)/obj/tests/programs/%.o $(LIB_A)
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^

# The library exports only what FP_API marks; modules export fp_module.
PIC_VISIBILITY	:= -fvisibility=hidden
$(B)/pic/modules/%.o $(B)/pic/tests/modules/%.o: PIC_VISIBILITY := -fvisibility=default

$(CHECK_BIN): $(call obj,$(TEST_SRCS) $(TEST_DAEMON_SRCS)) $(LIB_A)
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CHECK_LIBS) $(EVENT_LIBS) \
	    $(INIH_LIBS) $(JANSSON_LIBS) $(ZLIB_LIBS) $(XXHASH_LIBS) -ldl

$(call obj,$(TEST_SRCS)): CFLAGS_ALL += $(CHECK_CFLAGS) -Idaemon

# The Python package goes where the system's Python finds it.
PYTHON		?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || \
		   echo python3)
PURELIB		:= 'import sysconfig; print(sysconfig.get_path("purelib"))'

# The tests find what they drive through the environment.
TEST_ENV	 = FORKPOOLD=$(CURDIR)/$(FORKPOOLD) \
		   FORKPOOL=$(CURDIR)/$(FORKPOOL) \
		   FORKPOOL_MODULE_DIR=$(CURDIR)/$(B)/modules \
		   FORKPOOL_TEST_MODULE_DIR=$(CURDIR)/$(B)/tests/modules \
		   FORKPOOL_TEST_PROGRAM_DIR=$(CURDIR)/$(B)/tests/programs \
		   FORKPOOL_SRCDIR=$(CURDIR)
# Under sanitizers every report fails the run (UBSan would carry on), and
# LeakSanitizer checks each process that exits through exit(): the master
# and the test processes (workers end with _exit and are not checked).
# The slower processes get longer test timeouts.
# Reports also go to files in SANDIR, because most tests do not look at
# the daemon's exit status: any file there fails the run.
SANDIR		:= $(CURDIR)/$(B)/sanitizer
ifneq ($(SANITIZE),)
TEST_ENV	+= ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$(SANDIR)/asan \
		   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(SANDIR)/ubsan \
		   CK_TIMEOUT_MULTIPLIER=3 \
		   FORKPOOL_TEST_CFLAGS=-fsanitize=$(SANITIZE)
endif

check: deps all $(CHECK_BIN) $(TEST_MODULES) $(TEST_PROGRAMS)
	$(Q)rm -rf $(SANDIR) && mkdir -m 1777 -p $(SANDIR)
	$(Q)env $(TEST_ENV) CK_DEFAULT_TIMEOUT=30 $(CHECK_BIN)
	$(Q)env $(TEST_ENV) PYTHON=$(PYTHON) FORKPOOL_BUILD=$(B) \
	    lib/python/run_tests.sh
	$(Q)if [ -n "$$(ls -A $(SANDIR))" ]; then cat $(SANDIR)/*; \
	    echo "sanitizer reports above (in $(SANDIR))"; exit 1; fi

# forkpool-redis's tests (tests/bridge/): real redis-servers, forkpoolds
# and bridges.  Sanitizer reports go to a directory of their own, since
# check's recipe empties SANDIR after its prerequisites have run.
REDIS_SANDIR	:= $(CURDIR)/$(B)/sanitizer-redis
ifneq ($(SANITIZE),)
REDIS_SAN_ENV	:= ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$(REDIS_SANDIR)/asan \
		   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(REDIS_SANDIR)/ubsan
endif

check: check-redis

check-redis: deps all $(TEST_MODULES)
	$(Q)rm -rf $(REDIS_SANDIR) && mkdir -m 1777 -p $(REDIS_SANDIR)
	$(Q)env $(TEST_ENV) $(REDIS_SAN_ENV) \
	    FORKPOOL_REDIS=$(CURDIR)/$(FORKPOOL_REDIS) FORKPOOL_BUILD=$(B) \
	    $(PYTHON) -m unittest discover -s tests/bridge -t tests/bridge
	$(Q)if [ -n "$$(ls -A $(REDIS_SANDIR))" ]; then cat $(REDIS_SANDIR)/*; \
	    echo "sanitizer reports above (in $(REDIS_SANDIR))"; exit 1; fi

.PHONY: check-redis

RUNDIR		:= $(CURDIR)/$(B)/run
run: deps all
	@mkdir -p $(RUNDIR)
	@echo
	@echo "forkpoold is starting on conf/forkpool.ini (Ctrl-C stops it)."
	@echo "In another terminal, try:"
	@echo
	@echo "    $(FORKPOOL) -s $(RUNDIR)/forkpool.sock submit echo 'hello, forkpool'"
	@echo
	$(Q)FORKPOOL_MODULE_DIR=$(CURDIR)/$(B)/modules \
	    exec $(FORKPOOLD) -c conf/forkpool.ini -s $(RUNDIR)/forkpool.sock

# The benchmark's own binaries are built here, so that bench/bench.py
# calls no compiler: the relay (the machine's ceiling) and the faulty test
# module (its 1 ms tasks).  The load generator is forkpool bench.
BENCH_BINS	:= $(B)/bench/relay

$(B)/bench/relay: $(B)/obj/bench/relay.o $(LIB_A)
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^

bench: deps all $(BENCH_BINS) $(TEST_MODULES)
	$(Q)env $(TEST_ENV) python3 bench/bench.py --build $(B)
	$(Q)env $(TEST_ENV) PYTHON=$(PYTHON) $(PYTHON) bench/pybench.py \
	    --build $(B)

# forkpool-redis against Celery's prefork pool on one redis-server
# (bench/redis/); not part of make check.
bench-redis: deps all
	$(Q)env $(TEST_ENV) FORKPOOL_REDIS=$(CURDIR)/$(FORKPOOL_REDIS) \
	    $(PYTHON) bench/redis/bench_redis.py --build $(B)

.PHONY: bench-redis

# libFuzzer harnesses (tests/fuzz/): the frame codec, the configuration
# parser and the unit parsers, built with clang into $(B)/fuzz/.  make fuzz
# runs each for FUZZ_TIME seconds on a copy of its seed corpus under
# $(B)/fuzz/work/, so what the fuzzer learns stays out of the source tree
# and grows from run to run; a crash stops make and leaves its input in
# $(B)/fuzz/crashes/.
FUZZ_CC		?= clang
FUZZ_TIME	?= 60
FUZZ_FLAGS	?= -max_len=4096 -timeout=10
FUZZERS		:= frame config units
FUZZ_CFLAGS	 = -g -O1 -std=gnu11 $(WARNINGS) -D_GNU_SOURCE -Ilib -Idaemon \
		   -fno-strict-aliasing $(DEPS_CFLAGS) \
		   -fsanitize=fuzzer,address,undefined \
		   -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CONFIG_SRCS := daemon/config.c daemon/config_key.c daemon/config_read.c \
		    daemon/config_table.c daemon/config_value.c daemon/ids.c \
		    daemon/log.c \
		   daemon/xmalloc.c lib/proto.c
FUZZ_HDRS	:= lib/forkpool/proto.h daemon/forkpoold.h daemon/log.h \
		   daemon/config_key.h

$(B)/fuzz/fuzz_frame: tests/fuzz/fuzz_frame.c lib/proto.c
$(B)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(FUZZ_CONFIG_SRCS)
$(B)/fuzz/fuzz_units: tests/fuzz/fuzz_units.c $(FUZZ_CONFIG_SRCS)
$(B)/fuzz/fuzz_%: $(FUZZ_HDRS)
	$(say) FUZZCC $@
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(INIH_LIBS)

fuzz: deps $(addprefix $(B)/fuzz/fuzz_,$(FUZZERS))
	$(Q)for f in $(FUZZERS); do \
	    work=$(B)/fuzz/work/$$f; log=$(B)/fuzz/$$f.log; \
	    test -n '$(FUZZ_FRESH)' && rm -rf $$work; \
	    mkdir -p $$work $(B)/fuzz/crashes; \
	    cp tests/fuzz/corpus/$$f/* $$work/; \
	    dict=; test -f tests/fuzz/$$f.dict && dict=-dict=tests/fuzz/$$f.dict; \
	    printf '  %-6s %s, %s s\n' FUZZ $$f '$(FUZZ_TIME)'; \
	    if ! $(B)/fuzz/fuzz_$$f $$dict $(FUZZ_FLAGS) \
	        -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	        -artifact_prefix=$(B)/fuzz/crashes/$$f- $$work \
	        > $$log 2>&1; then \
	        tail -n 40 $$log; \
	        echo "fuzz_$$f failed: the input is in $(B)/fuzz/crashes/"; \
	        exit 1; \
	    fi; \
	    awk -v f=$$f '/^#[0-9]+[ \t]+DONE/ { done = $$0 } \
	        /^stat::number_of_executed_units/ { n = $$2 } \
	        /^stat::average_exec_per_sec/ { e = $$2 } \
	        /^stat::new_units_added/ { u = $$2 } \
	        /^stat::peak_rss_mb/ { r = $$2 } \
	        END { printf "  %-6s %s\n  %-6s %s: %d runs, %d exec/s, " \
	        "%d new units, peak RSS %d MB\n", "", done, "", f, n, e, \
	        u, r }' $$log; \
	done

# The master under valgrind with a mixed load (tests/fuzz/valgrind_load.py):
# echo tasks from several clients, crashes, timeouts, clients that vanish
# with tasks queued, then SIGTERM.  Fails on any error or a definite leak.
valgrind: deps all $(TEST_MODULES)
	$(Q)python3 tests/fuzz/valgrind_load.py \
	    --forkpoold $(FORKPOOLD) --modules $(B)/tests/modules \
	    --workdir $(B)/valgrind

# CI's short run (.ci/run): each fuzzer FUZZ_SHORT seconds from the corpus
# kept in the tree alone, so a harness that disagrees with the code (a
# reference that still accepts what the daemon refuses) fails CI.
FUZZ_SHORT	?= 20
fuzz-short: deps
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_TIME=$(FUZZ_SHORT) \
	    FUZZ_FRESH=1

.PHONY: fuzz fuzz-short valgrind

# make install and make uninstall.  PREFIX (default /usr/local) and
# DESTDIR as usual; the configuration and the systemd files go where the
# system looks for them, whatever PREFIX is.  install depends on all, in
# the same make, so the module directory compiled into forkpoold
# (MODULEDIR, part of .settings) is the one this PREFIX installs to.
SYSCONFDIR	?= /etc
DATADIR		?= $(PREFIX)/share
MANDIR		?= $(DATADIR)/man
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
# systemd's own directories, from systemd.pc when it is installed.
ifeq ($(origin SYSTEMDUNITDIR),undefined)
SYSTEMDUNITDIR	:= $(or $(shell pkg-config --variable=systemdsystemunitdir \
		   systemd 2>/dev/null),/lib/systemd/system)
endif
ifeq ($(origin SYSUSERSDIR),undefined)
SYSUSERSDIR	:= $(or $(shell pkg-config --variable=sysusersdir \
		   systemd 2>/dev/null),/usr/lib/sysusers.d)
endif
ifeq ($(origin TMPFILESDIR),undefined)
TMPFILESDIR	:= $(or $(shell pkg-config --variable=tmpfilesdir \
		   systemd 2>/dev/null),/usr/lib/tmpfiles.d)
endif
INSTALL		?= install

PUBLIC_HEADERS	:= \
	lib/forkpool/client.h \
	lib/forkpool/module.h \
	lib/forkpool/proto.h \
	lib/forkpool/worker.h
# man/NAME.N, or man/manN/NAME.N; installed to $(MANDIR)/manN/NAME.N.
MANPAGES	:= $(wildcard man/*.[1-8] man/man[1-8]/*.[1-8])
man_dest	 = $(MANDIR)/man$(patsubst .%,%,$(suffix $(1)))/$(notdir $(1))
CONFDIR		 = $(SYSCONFDIR)/forkpool

# Everything install puts in place but the configuration: what uninstall
# removes.
INSTALLED	 = \
	$(SBINDIR)/forkpoold \
	$(BINDIR)/forkpool \
	$(LIBDIR)/libforkpool.so.$(LIBVERSION) \
	$(LIBDIR)/$(LIB_SONAME) \
	$(LIBDIR)/libforkpool.so \
	$(LIBDIR)/libforkpool.a \
	$(addprefix $(INCLUDEDIR)/forkpool/,$(notdir $(PUBLIC_HEADERS))) \
	$(PKGCONFIGDIR)/forkpool.pc \
	$(addprefix $(MODULEDIR)/,$(notdir $(MODULES))) \
	$(SYSTEMDUNITDIR)/forkpool.service \
	$(SYSTEMDUNITDIR)/forkpool.socket \
	$(SYSUSERSDIR)/forkpool.conf \
	$(TMPFILESDIR)/forkpool.conf \
	$(foreach m,$(MANPAGES),$(call man_dest,$(m)))

install: all
	$(say) INSTALL '$(DESTDIR)$(PREFIX)'
	$(Q)$(INSTALL) -d '$(DESTDIR)$(SBINDIR)' '$(DESTDIR)$(BINDIR)' \
	    '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(INCLUDEDIR)/forkpool' \
	    '$(DESTDIR)$(PKGCONFIGDIR)' '$(DESTDIR)$(MODULEDIR)' \
	    '$(DESTDIR)$(CONFDIR)' '$(DESTDIR)$(SYSTEMDUNITDIR)' \
	    '$(DESTDIR)$(SYSUSERSDIR)' '$(DESTDIR)$(TMPFILESDIR)'
	$(Q)$(INSTALL) -m 0755 $(FORKPOOLD) '$(DESTDIR)$(SBINDIR)/forkpoold'
	$(Q)$(INSTALL) -m 0755 $(FORKPOOL) '$(DESTDIR)$(BINDIR)/forkpool'
	$(Q)$(INSTALL) -m 0755 $(LIB_SO) '$(DESTDIR)$(LIBDIR)/'
	$(Q)ln -sf libforkpool.so.$(LIBVERSION) \
	    '$(DESTDIR)$(LIBDIR)/$(LIB_SONAME)'
	$(Q)ln -sf $(LIB_SONAME) '$(DESTDIR)$(LIBDIR)/libforkpool.so'
	$(Q)$(INSTALL) -m 0644 $(LIB_A) '$(DESTDIR)$(LIBDIR)/'
	$(Q)$(INSTALL) -m 0644 $(PUBLIC_HEADERS) \
	    '$(DESTDIR)$(INCLUDEDIR)/forkpool/'
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@MODULEDIR@|$(MODULEDIR)|' -e 's|@VERSION@|$(LIBVERSION)|' \
	    forkpool.pc.in > '$(DESTDIR)$(PKGCONFIGDIR)/forkpool.pc'
	$(Q)chmod 0644 '$(DESTDIR)$(PKGCONFIGDIR)/forkpool.pc'
	$(Q)$(INSTALL) -m 0755 $(MODULES) '$(DESTDIR)$(MODULEDIR)/'
# An operator's configuration is never overwritten.
	$(Q)test -e '$(DESTDIR)$(CONFDIR)/forkpool.ini' || \
	    $(INSTALLED_CONF) > '$(DESTDIR)$(CONFDIR)/forkpool.ini'
	$(Q)sed -e 's|^ExecStart=/usr/local/sbin/|ExecStart=$(SBINDIR)/|' \
	    -e 's|^ExecReload=/usr/local/bin/|ExecReload=$(BINDIR)/|' \
	    systemd/forkpool.service \
	    > '$(DESTDIR)$(SYSTEMDUNITDIR)/forkpool.service'
	$(Q)chmod 0644 '$(DESTDIR)$(SYSTEMDUNITDIR)/forkpool.service'
	$(Q)$(INSTALL) -m 0644 systemd/forkpool.socket \
	    '$(DESTDIR)$(SYSTEMDUNITDIR)/forkpool.socket'
	$(Q)$(INSTALL) -m 0644 systemd/forkpool.sysusers \
	    '$(DESTDIR)$(SYSUSERSDIR)/forkpool.conf'
	$(Q)$(INSTALL) -m 0644 systemd/forkpool.tmpfiles \
	    '$(DESTDIR)$(TMPFILESDIR)/forkpool.conf'
	$(Q)$(foreach m,$(MANPAGES),$(INSTALL) -D -m 0644 $(m) \
	    '$(DESTDIR)$(call man_dest,$(m))' &&) true
	$(Q)PYTHON=$(PYTHON) lib/python/install.sh '$(DESTDIR)' >/dev/null
# A new library in a system directory needs ld.so's cache renewed.
	$(Q)if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ]; then \
	    ldconfig || true; \
	    echo "To run forkpoold under systemd:"; \
	    echo "    systemd-sysusers; systemd-tmpfiles --create"; \
	    echo "    systemctl daemon-reload"; \
	    echo "    systemctl enable --now forkpool.socket"; \
	fi

# The installed sample leaves out [pool:py] (the last section): a pool that
# unpickles what clients send should be an operator's deliberate choice.
INSTALLED_CONF	= { sed '/^\[pool:py\]/,$$d' conf/forkpool.ini; \
		    echo '; [pool:py] (forkpool.Executor) is left out of the'; \
		    echo '; installed sample: it runs code its clients send.'; \
		    echo '; See conf/forkpool.ini in the source and forkpool.ini(5).'; }

# The configuration goes only if it is still the one shipped; directories
# of forkpool's own go when they are empty.
uninstall:
	$(say) RM '$(DESTDIR)$(PREFIX)'
	$(Q)rm -f $(foreach f,$(INSTALLED),'$(DESTDIR)$(f)')
	$(Q)rm -rf "$(DESTDIR)$$($(PYTHON) -c $(PURELIB))/forkpool"
	$(Q)if $(INSTALLED_CONF) | cmp -s - '$(DESTDIR)$(CONFDIR)/forkpool.ini'; \
	    then rm -f '$(DESTDIR)$(CONFDIR)/forkpool.ini'; fi
	$(Q)for d in '$(DESTDIR)$(CONFDIR)' \
	    '$(DESTDIR)$(INCLUDEDIR)/forkpool' '$(DESTDIR)$(MODULEDIR)' \
	    '$(DESTDIR)$(LIBDIR)/forkpool'; do \
	    rmdir "$$d" 2>/dev/null || true; done

.PHONY: install uninstall

# forkpool-redis and its unit (its man page is in MANPAGES already).
INSTALLED	+= $(BINDIR)/forkpool-redis \
		   $(SYSTEMDUNITDIR)/forkpool-redis.service

install: install-redis

install-redis: all
	$(Q)$(INSTALL) -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(SYSTEMDUNITDIR)'
	$(Q)$(INSTALL) -m 0755 $(FORKPOOL_REDIS) \
	    '$(DESTDIR)$(BINDIR)/forkpool-redis'
	$(Q)sed -e 's|^ExecStart=/usr/local/bin/|ExecStart=$(BINDIR)/|' \
	    systemd/forkpool-redis.service \
	    > '$(DESTDIR)$(SYSTEMDUNITDIR)/forkpool-redis.service'
	$(Q)chmod 0644 '$(DESTDIR)$(SYSTEMDUNITDIR)/forkpool-redis.service'

.PHONY: install-redis

# make deb: the Debian packages of debian/ (forkpool, libforkpool0,
# libforkpool-dev, python3-forkpool), built with dpkg-buildpackage from a
# copy of the tree in $(DEBDIR)/forkpool, so the build leaves nothing in
# the source tree; the .debs land in $(DEBDIR).  lintian then fails the
# target on any error or warning that debian/ does not explain (each kept
# one is an override with its reason).
DEBDIR		:= $(B)/deb
deb: deps
	$(Q)FORKPOOL_DEPS_SYSTEM=1 sh tools/deps.sh --install >/dev/null
	$(say) DEB $(DEBDIR)
	$(Q)rm -rf $(DEBDIR) && mkdir -p $(DEBDIR)/forkpool
	$(Q)tar -cf - --exclude=./.git --exclude='./build' --exclude='./build-*' \
	    . | tar -xf - -C $(DEBDIR)/forkpool
	$(Q)cd $(DEBDIR)/forkpool && dpkg-buildpackage -us -uc -b \
	    > ../build.log 2>&1 || { tail -n 40 ../build.log; \
	    echo "dpkg-buildpackage failed: $(DEBDIR)/build.log"; exit 1; }
	$(Q)ls -l $(DEBDIR)/*.deb | awk '{ printf "  %-6s %s %s\n", "", $$5, $$NF }'
	$(say) LINTIAN $(DEBDIR)
	$(Q)lintian --fail-on error,warning --info $(DEBDIR)/*.changes

# make check-system: install the packages into a Debian 12 root, boot it
# under systemd-nspawn and check the service from outside
# (tests/system/run.sh says what and how).  The root is made once and kept
# in $(B)/system; make clean removes it.
check-system: deps deb
	$(Q)FORKPOOL_DEPS_SYSTEM=1 sh tools/deps.sh --install >/dev/null
	$(Q)bash tests/system/run.sh $(DEBDIR) $(B)/system

.PHONY: deb check-system

clean:
	rm -rf build build-san

distclean: clean

FORCE:

# Keep the objects of modules, which make would otherwise treat as
# intermediate and rebuild every time.
.SECONDARY:

.PHONY: all check run bench clean distclean FORCE

# ($(B)/system holds the system test's Debian root, $(B)/deb the package
# build's own tree: neither is ours to read.)
-include $(shell find $(B) -path $(B)/system -prune -o -path $(B)/deb \
	   -prune -o -name '*.d' -type f -print 2>/dev/null)
