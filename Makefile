# walvault: PGXS build of the archive module and extension, plus the PostgreSQL-free core (static, PIC),
# the walvault tool and the unit tests, and the test targets.
#
#   make                 module, extension, tool, unit tests
#   make install         into the PostgreSQL installation that pg_config names: walvault.so and the tool
#                        stripped, their debug information in separate files below DEBUGDIR (see below);
#                        the systemd units into SYSTEMDUNITDIR (see below)
#   make test            unit tests, pg_regress on a temporary instance, TAP tests (needs make install)
#   make format | lint   clang-format | clang-tidy over our sources; make format-check: what format would change

MODULE_big = walvault
OBJS = module/walvault.o module/archiver.o
EXTENSION = walvault
DATA = sql/walvault--1.0.sql
PGFILEDESC = "walvault - WAL archiving and point-in-time recovery"

PG_CONFIG ?= pg_config

# No LLVM bitcode for our objects: the module's work is I/O and compression on its own threads, nothing
# that JIT inlining into queries could use, and clang would have to be kept in step with our C++20.
override with_llvm = no

PG_CPPFLAGS = -I$(srcdir)
PG_CFLAGS = -Werror
PG_CXXFLAGS = -std=c++20 -Wall -Wextra -Werror
WV_BUILD ?= build
CORE_LIB = $(WV_BUILD)/libwalvault_core.a
SHLIB_LINK = $(CORE_LIB) -lcurl -lpugixml -lzstd -lcrypto -lstdc++ -lpthread

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# ---- core, tool, unit tests: our own rules, without PostgreSQL's include paths ----------------------
WV_CXX ?= g++
WV_CXXFLAGS ?= -O2 -g
WV_FLAGS = -std=c++20 -fPIC -Wall -Wextra -Werror -I$(srcdir) -MMD -MP $(WV_CXXFLAGS) $(WV_SANITIZE)

CORE_SRCS = $(sort $(wildcard core/*/*.cpp core/*/*/*.cpp))
CORE_OBJS = $(patsubst %.cpp,$(WV_BUILD)/%.o,$(CORE_SRCS))
TOOL_SRCS = $(sort $(wildcard tool/*.cpp tool/commands/*.cpp))
TOOL_OBJS = $(patsubst %.cpp,$(WV_BUILD)/%.o,$(TOOL_SRCS))
UNIT_SRCS = $(sort $(wildcard test/unit/*.cpp))
UNIT_OBJS = $(patsubst %.cpp,$(WV_BUILD)/%.o,$(UNIT_SRCS))
CORE_LIBS = -lcurl -lpugixml -lzstd -lcrypto -lpthread $(CRC_LIBS)

# CRC-32C from libcrcutil (core/codec/crc32c.h), x86-64 only: its header needs SSE4.2, so one file is
# compiled with -msse4.2 and called only after a run-time CPU check. Elsewhere restore uses SHA-256.
ifneq (,$(findstring x86_64,$(shell $(WV_CXX) -dumpmachine)))
CRC_LIBS = -lcrcutil
$(WV_BUILD)/core/codec/crc32c_sse42.o: WV_FLAGS += -msse4.2
# XXH3's AVX2 loop (core/codec/xxh3.cpp): the same arrangement, the one file compiled with -mavx2.
$(WV_BUILD)/core/codec/xxh3_avx2.o: WV_FLAGS += -mavx2
lint/core/codec/crc32c_sse42.cpp: LINT_FLAGS += -msse4.2
lint/core/codec/xxh3_avx2.cpp: LINT_FLAGS += -mavx2
endif

$(WV_BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(WV_CXX) $(WV_FLAGS) -c -o $@ $<

$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# The module links the core archive in.
$(shlib): $(CORE_LIB)
module/archiver.o: $(CORE_LIB)

# libpq, the client library, is the one PostgreSQL header the tool sees, and only in tool/pg_client.cpp
# and tool/lazy_libs.cpp.
$(WV_BUILD)/tool/pg_client.o $(WV_BUILD)/tool/lazy_libs.o: WV_FLAGS += -I$(shell $(PG_CONFIG) --includedir)
lint/tool/pg_client.cpp lint/tool/lazy_libs.cpp: LINT_FLAGS += -I$(shell $(PG_CONFIG) --includedir)

# No -lcurl, -lpq or -lcrypto: the tool opens them on first use (tool/lazy_libs.cpp), so that a wal-fetch,
# run once per WAL segment by restore_command, does not load ~60 libraries it never calls.
# libstdc++, libgcc and pugixml are linked in statically (GCC's own options, Debian's libpugixml.a), for
# the same reason: each shared library costs every exec its loading, relocation and copy-on-write pages,
# and on a VM each new page is a fault that costs tens of microseconds; libpugixml.so alone pulls in
# libstdc++.so. Measured with 200 wal-fetch calls served from the spool, each as PostgreSQL makes them:
# 8.6 ms of CPU per call with these shared, 6.6 ms static (docs/benchmarks.md, "Static libstdc++ in the tool"). pugixml
# then gets its fixes with a rebuild of walvault, like the header-only nlohmann_json and CLI11 already do.
# zstd stays shared (it gets Debian's updates; static it saved nothing measurable). The executable
# exports none of these symbols (no -rdynamic), so the libraries opened on first use keep their own.
TOOL_STATIC_LIBS = -static-libstdc++ -static-libgcc -Wl,-Bstatic -lpugixml -Wl,-Bdynamic -lzstd
$(WV_BUILD)/walvault: $(TOOL_OBJS) $(CORE_LIB)
	$(WV_CXX) $(WV_FLAGS) -o $@ $(TOOL_OBJS) $(CORE_LIB) $(TOOL_STATIC_LIBS) -lpthread $(CRC_LIBS)

$(WV_BUILD)/unit_tests: $(UNIT_OBJS) $(CORE_LIB)
	$(WV_CXX) $(WV_FLAGS) -o $@ $(UNIT_OBJS) $(CORE_LIB) -lgtest -lgtest_main $(CORE_LIBS)

all: build/walvault $(SYSTEMD_BUILT)

# Installed stripped, with the debug information kept apart, as Debian's dh_strip does: of the 51 MB tool
# and 17 MB module built with -g, all but ~3 MB and ~1 MB is DWARF that no run needs. The debug
# information goes into compressed files (objcopy --only-keep-debug) installed as
# DEBUGDIR/<installed path>.debug, e.g. /usr/lib/debug/usr/lib/postgresql/15/lib/walvault.so.debug, and each
# stripped binary names its file in a .gnu_debuglink section (name and CRC): gdb, whose debug-file-directory
# is /usr/lib/debug, finds it there with no setting. PGXS's own install does the stripping (its
# install-strip mechanism: INSTALL_STRIP_FLAG, install-sh and STRIPPROG), for the module through
# INSTALL_SHLIB and for the tool through INSTALL_PROGRAM; install-sh strips a temporary copy in the target
# directory and renames it into place, so a running server's mapped walvault.so is never written over.
# `make install INSTALL_STRIP_FLAG=` installs both unstripped.
DEBUGDIR ?= /usr/lib/debug
WV_DEBUG = $(WV_BUILD)/debug
$(WV_DEBUG)/walvault.so.debug: $(shlib)
$(WV_DEBUG)/walvault.debug: $(WV_BUILD)/walvault
$(WV_DEBUG)/walvault.so.debug $(WV_DEBUG)/walvault.debug:
	@mkdir -p $(dir $@)
	objcopy --only-keep-debug --compress-debug-sections $< $@

install: INSTALL_STRIP_FLAG = -s
install: use_install_sh = yes
install-lib-shared: INSTALL_SHLIB_ENV = STRIPPROG='objcopy --strip-unneeded --add-gnu-debuglink=$(WV_DEBUG)/walvault.so.debug'
install-tool: INSTALL_PROGRAM_ENV = STRIPPROG='objcopy --strip-unneeded --add-gnu-debuglink=$(WV_DEBUG)/walvault.debug'
install-lib-shared: $(WV_DEBUG)/walvault.so.debug

install: install-tool install-debug-info
install-tool: build/walvault $(WV_DEBUG)/walvault.debug
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) build/walvault '$(DESTDIR)$(bindir)/walvault'

install-debug-info: $(WV_DEBUG)/walvault.so.debug $(WV_DEBUG)/walvault.debug
	$(MKDIR_P) '$(DESTDIR)$(DEBUGDIR)$(pkglibdir)' '$(DESTDIR)$(DEBUGDIR)$(bindir)'
	$(INSTALL_DATA) $(WV_DEBUG)/walvault.so.debug '$(DESTDIR)$(DEBUGDIR)$(pkglibdir)/walvault.so.debug'
	$(INSTALL_DATA) $(WV_DEBUG)/walvault.debug '$(DESTDIR)$(DEBUGDIR)$(bindir)/walvault.debug'

uninstall: uninstall-tool
uninstall-tool:
	rm -f '$(DESTDIR)$(bindir)/walvault' '$(DESTDIR)$(DEBUGDIR)$(bindir)/walvault.debug' \
		'$(DESTDIR)$(DEBUGDIR)$(pkglibdir)/walvault.so.debug' \
		$(addprefix '$(DESTDIR)$(SYSTEMDUNITDIR)/,$(addsuffix ',$(SYSTEMD_UNITS)))

# The systemd units (systemd/, docs/operations.md): walvault-backup@.service and walvault-expire@.service
# with their timers, walvault-receive@.service, the instance naming /etc/walvault/INSTANCE.conf. The services' ExecStart names the
# tool where make install puts it, $(bindir)/walvault, written into build/systemd/ from systemd/*.in.
# SYSTEMDUNITDIR: systemd's system unit directory as its pkg-config file says, else /lib/systemd/system.
SYSTEMDUNITDIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
SYSTEMD_UNITS = walvault-backup@.service walvault-backup@.timer walvault-expire@.service walvault-expire@.timer \
	walvault-receive@.service
SYSTEMD_BUILT = $(addprefix $(WV_BUILD)/systemd/,$(SYSTEMD_UNITS))
$(WV_BUILD)/systemd/%.service: systemd/%.service.in Makefile
	@mkdir -p $(dir $@)
	sed 's|@BINDIR@|$(bindir)|g' $< > $@
$(WV_BUILD)/systemd/%.timer: systemd/%.timer
	@mkdir -p $(dir $@)
	cp $< $@

install: install-systemd
install-systemd: $(SYSTEMD_BUILT)
	$(MKDIR_P) '$(DESTDIR)$(SYSTEMDUNITDIR)'
	$(INSTALL_DATA) $(SYSTEMD_BUILT) '$(DESTDIR)$(SYSTEMDUNITDIR)/'

clean: clean-build
clean-build:
	rm -rf build

-include $(CORE_OBJS:.o=.d) $(TOOL_OBJS:.o=.d) $(UNIT_OBJS:.o=.d)

# ---- tests ---------------------------------------------------------------------------------------------
# PostgreSQL refuses to run as root: when make runs as root, the PostgreSQL tests run as TEST_USER,
# writing only below TEST_OUT.
TEST_OUT ?= /tmp/walvault-test
TEST_USER ?= postgres
ifeq ($(shell id -u),0)
AS_TEST_USER = runuser -u $(TEST_USER) --
endif

.PHONY: test unit docs unit-sanitize regress tap format format-check lint install-tool install-debug-info install-systemd uninstall-tool clean-build

test: unit unit-sanitize regress tap

unit: build/unit_tests
	build/unit_tests

# Writes the settings reference of docs/configuration.md from the declarations (core/config/settings_doc.h).
docs: build/unit_tests
	WALVAULT_UPDATE_DOCS=1 build/unit_tests --gtest_filter='SettingsDoc.*'

# The unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer, in their own build directory
# (-O0 -g1: line tables for the reports; on GCC 12 this compiles in a third of the time of -O1 -g, which
# made this second build the longest step of the suite).
# GCC 12 reports false maybe-uninitialized warnings inside libstdc++'s std::regex under -fsanitize.
SANITIZE_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Wno-maybe-uninitialized
unit-sanitize:
	$(MAKE) --no-print-directory WV_BUILD=build/sanitize WV_CXXFLAGS="-O0 -g1" WV_SANITIZE="$(SANITIZE_FLAGS)" \
		build/sanitize/unit_tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/sanitize/unit_tests --gtest_brief=1

# The test inputs are copied to TEST_OUT/src: the checkout may not be readable by TEST_USER. The systemd
# units as make install writes them go to TEST_OUT/src/systemd (test/t/022_systemd_units.pl).
test-out: $(SYSTEMD_BUILT)
	@rm -rf $(TEST_OUT)/src
	@mkdir -p $(TEST_OUT)/src/systemd
	@cp -r $(srcdir)/sql $(srcdir)/expected $(srcdir)/test $(TEST_OUT)/src/
	@cp $(SYSTEMD_BUILT) $(TEST_OUT)/src/systemd/
	@if [ "$$(id -u)" = 0 ]; then chown -R $(TEST_USER) $(TEST_OUT); fi

regress: test-out
	$(AS_TEST_USER) rm -rf $(TEST_OUT)/regress
	$(AS_TEST_USER) $(pgxsdir)/src/test/regress/pg_regress --bindir='$(bindir)' \
		--inputdir=$(TEST_OUT)/src --outputdir=$(TEST_OUT)/regress \
		--temp-instance=$(TEST_OUT)/regress/tmp_check --temp-config=$(TEST_OUT)/src/test/regress.conf \
		walvault

tap: test-out
	$(AS_TEST_USER) rm -rf $(TEST_OUT)/tap
	$(AS_TEST_USER) mkdir -p $(TEST_OUT)/tap/tmp_check
	cd $(TEST_OUT)/src/test && $(AS_TEST_USER) env TESTDIR='$(TEST_OUT)/tap' PATH="$(bindir):$$PATH" \
		PG_REGRESS='$(pgxsdir)/src/test/regress/pg_regress' \
		WALVAULT_TOOL='$(bindir)/walvault' \
		$(PROVE) -I $(pgxsdir)/src/test/perl -I $(TEST_OUT)/src/test/lib $(PROVE_FLAGS) \
		$(if $(PROVE_TESTS),$(PROVE_TESTS),t/*.pl)

# format-check and lint print one line per file, "ok - TOOL FILE" or "not ok - TOOL FILE" (scripts/test.sh
# counts them), the findings above it, and fail if any file is not ok.
FORMAT_SRCS = $(CORE_SRCS) $(TOOL_SRCS) $(UNIT_SRCS) module/archiver.cpp \
	$(wildcard core/*/*.h core/*/*/*.h tool/*.h tool/commands/*.h)
format:
	clang-format -i $(FORMAT_SRCS)
format-check:
	@status=0; for f in $(FORMAT_SRCS); do \
		if clang-format --dry-run --Werror $$f; then echo "ok - clang-format $$f"; \
		else echo "not ok - clang-format $$f"; status=1; fi; \
	done; exit $$status

# clang-tidy (.clang-tidy) over core/ and tool/ with each file's compile flags, one file per job: about 10 s
# of CPU per file (most of it in the headers of nlohmann_json, CLI11 and libstdc++), so use make -j.
# Any finding fails (--warnings-as-errors).
LINT_SRCS = $(CORE_SRCS) $(TOOL_SRCS)
LINT_TARGETS = $(addprefix lint/,$(LINT_SRCS))
LINT_FLAGS = -std=c++20 -I$(srcdir)
lint: $(LINT_TARGETS)
.PHONY: $(LINT_TARGETS)
$(LINT_TARGETS): lint/%:
	@out=$$(clang-tidy --quiet --warnings-as-errors='*' $* -- $(LINT_FLAGS) 2>&1); rc=$$?; \
	printf '%s\n' "$$out" | grep -v '^[0-9]* warnings\? generated\.$$' | grep .; \
	if [ $$rc -eq 0 ]; then echo "ok - clang-tidy $*"; else echo "not ok - clang-tidy $*"; exit 1; fi
