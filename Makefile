# edged: a plain GNU Makefile. `make help` lists the targets.
#
# Sources are found by wildcard: every daemon/<sub>/*.c goes into the archive
# build/lib/lib<sub>.a, every kernels/**/*.c into build/lib/libkernels.a (arch
# folders only for their arch, with their own flags), every tests/<kind>/**/*.c
# becomes one test program. Objects live under $(BUILD); `make V=1` shows commands.

V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)
SANITIZE ?=
PREFIX   ?= /usr/local
DESTDIR  ?=
PYTHON   ?= /usr/bin/python3
FUZZ_SECONDS ?= 20

comma := ,
ifeq ($(origin CC),default)
CC := cc
endif
TARGET_ARCH_NAME := $(shell $(CC) -dumpmachine | cut -d- -f1)

ifneq ($(SANITIZE),)
BUILD ?= build/san-$(subst $(comma),-,$(SANITIZE))
else ifneq ($(TARGET_ARCH_NAME),$(shell uname -m))
BUILD ?= build/$(TARGET_ARCH_NAME)
else
BUILD ?= build
endif
DEPS_DIR := build/deps

# ---------------------------------------------------------------- flags ----
WARN     := -Wall -Wextra -Werror -Wvla -Wformat=2 -Wno-format-nonliteral
OPT      ?= -O2
CPPFLAGS += -D_GNU_SOURCE
CFLAGS   += -std=c11 $(OPT) -g $(WARN) -fno-omit-frame-pointer -MMD -MP
LDFLAGS  +=
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif
ifeq ($(FUZZ),1)
CFLAGS   += -fsanitize=fuzzer-no-link,address,undefined -DED_FUZZING=1
LDFLAGS  += -fsanitize=address,undefined
endif

PKGS       := libuv jansson inih libsystemd sqlite3 libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS   += $(PKG_CFLAGS)
FAISS_LIBS := -L$(DEPS_DIR) -lfaiss_c -lfaiss -lstdc++ -lgomp -lblas -llapack
LDLIBS     := $(PKG_LIBS) -lmbedcrypto -lpthread -lm

# Kernel arch folders: compiled only for their arch, each with its own flags.
X86_FLAGS          := -mavx2 -mfma -mf16c
X86_AVX512_FLAGS   := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512dq
# GCC's scheduling pass before register allocation hoists every activation
# load of a multi-row pass and then spills (hundreds of stack moves per
# super-block in the K-quant kernels); without it they fit the 32 registers.
ARM_FLAGS          := -march=armv8-a -fno-schedule-insns
ARM_DOTPROD_FLAGS  := -march=armv8.2-a+dotprod+fp16 -fno-schedule-insns

# ---------------------------------------------------------------- sources ----
SUBSYSTEMS := $(notdir $(patsubst %/,%,$(wildcard daemon/*/)))
MAIN_SRC   := daemon/main.c
sub_src     = $(filter-out $(MAIN_SRC),$(wildcard daemon/$(1)/*.c))
lib_of      = $(BUILD)/lib/lib$(1).a

KERNEL_SRC := $(wildcard kernels/*.c kernels/ref/*.c)
ifeq ($(TARGET_ARCH_NAME),x86_64)
KERNEL_SRC += $(wildcard kernels/x86/*.c)
endif
ifeq ($(TARGET_ARCH_NAME),aarch64)
KERNEL_SRC += $(wildcard kernels/arm/*.c)
endif

# ---------------------------------------------------------- include views ----
# What each folder may include (DESIGN section 3), enforced by the compiler:
# a daemon/<sub> file is compiled with -I$(BUILD)/include/<sub> only, a folder
# holding links to the folders listed in INC_<sub>, so "rag/rag.h" from
# daemon/core does not compile. A wrapped library's headers are on the path of
# its wrapper's folder alone. main.c (the top), the tests and the tools see
# everything. tests/tools/arch_check checks the same rules per file.
INC_kernels := kernels
INC_core    := core
INC_store   := store core
INC_model   := model core kernels
INC_cli     := cli adapt store model core kernels
INC_engine  := engine model core kernels
INC_rag     := rag store model core kernels
INC_adapt   := adapt store model core kernels
INC_http    := http core
INC_api     := api http engine rag adapt store model core kernels
WRAPPED_http := -I/usr/share/include/llhttp
WRAPPED_rag  := -I$(DEPS_DIR)/include
ALL_INC     := -I. -Idaemon -Iclients/lib -I/usr/share/include/llhttp -I$(DEPS_DIR)/include
view_dir     = $(BUILD)/include/$(1)
view_links   = $(foreach d,$(INC_$(1)),$(call view_dir,$(1))/$(d))
$(foreach s,$(SUBSYSTEMS),$(if $(INC_$(s)),,$(error daemon/$(s)/ has no INC_$(s) line in the Makefile)))

VIEW_LINKS  := $(foreach s,$(SUBSYSTEMS) kernels,$(call view_links,$(s)))
$(VIEW_LINKS):
	@mkdir -p $(@D)
	$(Q)ln -sfn $(abspath $(if $(filter kernels,$(notdir $@)),kernels,daemon/$(notdir $@))) $@

$(foreach s,$(SUBSYSTEMS),$(eval $(BUILD)/daemon/$(s)/%.o: SRC_INC = -I$(call view_dir,$(s)) $(WRAPPED_$(s))))
$(BUILD)/kernels/%.o: SRC_INC = -I$(call view_dir,kernels)
$(BUILD)/clients/lib/%.o: SRC_INC = -Iclients/lib -I/usr/share/include/llhttp
$(BUILD)/clients/edgectl/%.o: SRC_INC = -Iclients/lib
SRC_INC ?= $(ALL_INC)

LLHTTP_SRC := $(wildcard /usr/share/llhttp/*.c)
LLHTTP_OBJ := $(patsubst /usr/share/llhttp/%.c,$(BUILD)/deps/llhttp/%.o,$(LLHTTP_SRC))
LLHTTP_LIB := $(BUILD)/lib/libllhttp.a

CLIENT_LIB_SRC := $(wildcard clients/lib/*.c)
EDGECTL_SRC    := $(wildcard clients/edgectl/*.c)

# Which archives a program links, by subsystem. Archives are grouped, so order
# inside a list does not matter; a subsystem not listed links everything.
LIBS_ALL     := $(SUBSYSTEMS) kernels llhttp
LIBS_kernels := kernels
LIBS_core    := core
LIBS_store   := store core
LIBS_model   := model core kernels
LIBS_cli     := cli adapt store model core kernels
LIBS_mkmodel := model core kernels
LIBS_embed   := model core kernels
LIBS_engine  := engine model core kernels
LIBS_rag     := rag store model core kernels
LIBS_adapt   := adapt store model core kernels
LIBS_train   := adapt store model core kernels
LIBS_http    := $(LIBS_ALL)
LIBS_api     := $(LIBS_ALL)
LIBS_client  := edgeclient llhttp
libs_for      = $(if $(LIBS_$(1)),$(LIBS_$(1)),$(LIBS_ALL))
needs_faiss   = $(filter rag,$(call libs_for,$(1)))

EDGED_LIBS   := $(LIBS_ALL)

# Test programs: tests/<kind>/<sub>/<name>.c -> $(BUILD)/tests/<kind>/<sub>/<name>,
# linked with the archives of <sub> (tests/kernels/* link only the kernels).
UNIT_SRC    := $(wildcard tests/unit/*/*.c)
KTEST_SRC   := $(wildcard tests/kernels/*.c)
MTEST_SRC   := $(wildcard tests/model/*.c)
BENCH_SRC   := $(wildcard tests/bench/*.c)
TOOL_SRC    := $(wildcard tests/tools/*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/*.c)
UNIT_BIN    := $(patsubst %.c,$(BUILD)/%,$(UNIT_SRC))
KTEST_BIN   := $(patsubst %.c,$(BUILD)/%,$(KTEST_SRC))
MTEST_BIN   := $(patsubst %.c,$(BUILD)/%,$(MTEST_SRC))
BENCH_BIN   := $(patsubst %.c,$(BUILD)/%,$(BENCH_SRC))
TOOL_BIN    := $(patsubst %.c,$(BUILD)/%,$(TOOL_SRC))
FUZZ_BIN    := $(patsubst tests/fuzz/%.c,build/fuzz/bin/%,$(FUZZ_SRC))

# The subsystem a test belongs to: tests/unit/<sub>/x.c, tests/kernels -> kernels,
# tests/model -> model, tests/fuzz/<sub>_<what>.c, tests/bench/<sub>_<what>.c.
test_sub = $(strip $(if $(filter tests/unit/%,$(1)),$(word 3,$(subst /, ,$(1))),\
             $(if $(filter tests/kernels/%,$(1)),kernels,\
             $(if $(filter tests/model/%,$(1)),model,\
             $(firstword $(subst _, ,$(basename $(notdir $(1)))))))))

ALL_BIN := $(BUILD)/edged $(BUILD)/edgectl $(BUILD)/lib/libedgeclient.a \
           $(UNIT_BIN) $(KTEST_BIN) $(MTEST_BIN) $(TOOL_BIN) $(BENCH_BIN)

.PHONY: all help deps deps-apt deps-npm test test-arch test-unit test-aarch64 test-reference \
        test-integration test-fuzz test-systemd fuzz bench run install uninstall clean
.DEFAULT_GOAL := all

all: $(ALL_BIN)

help:
	@echo "make            build edged, edgectl, libedgeclient and the tests into $(BUILD)/"
	@echo "make deps       install what building and testing need (idempotent)"
	@echo "make run        run edged in the foreground with a development config (socket: build/run/edged.sock)"
	@echo "make test       the whole test suite (SANITIZE=address,undefined for sanitizers)"
	@echo "make fuzz       run every fuzz driver for FUZZ_SECONDS (default $(FUZZ_SECONDS)) each"
	@echo "make bench      benchmarks, printed as tables"
	@echo "make install    install under DESTDIR/PREFIX (default $(PREFIX)); make uninstall removes it"

# ---------------------------------------------------------------- rules ----
$(BUILD)/%.o: %.c | $(VIEW_LINKS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(SRC_INC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/kernels/x86/%_avx512.o: kernels/x86/%_avx512.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (avx512)")
	$(Q)$(CC) $(SRC_INC) $(CPPFLAGS) $(CFLAGS) $(X86_AVX512_FLAGS) -c -o $@ $<
$(BUILD)/kernels/x86/%.o: kernels/x86/%.c | $(VIEW_LINKS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (avx2)")
	$(Q)$(CC) $(SRC_INC) $(CPPFLAGS) $(CFLAGS) $(X86_FLAGS) -c -o $@ $<
$(BUILD)/kernels/arm/%_dotprod.o: kernels/arm/%_dotprod.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (dotprod)")
	$(Q)$(CC) $(SRC_INC) $(CPPFLAGS) $(CFLAGS) $(ARM_DOTPROD_FLAGS) -c -o $@ $<
$(BUILD)/kernels/arm/%.o: kernels/arm/%.c | $(VIEW_LINKS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (neon)")
	$(Q)$(CC) $(SRC_INC) $(CPPFLAGS) $(CFLAGS) $(ARM_FLAGS) -c -o $@ $<

# llhttp: Debian ships its generated C sources; they are compiled here, never copied.
$(BUILD)/deps/llhttp/%.o: /usr/share/llhttp/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -I/usr/share/include/llhttp $(OPT) -g $(filter -fsanitize%,$(CFLAGS)) -c -o $@ $<

define archive_rule
$(call lib_of,$(1)): $(patsubst %.c,$(BUILD)/%.o,$(call sub_src,$(1)))
	@mkdir -p $$(@D)
	@$$(if $(Q),echo "  AR      $$@")
	$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach s,$(SUBSYSTEMS),$(eval $(call archive_rule,$(s))))

$(call lib_of,kernels): $(patsubst %.c,$(BUILD)/%.o,$(KERNEL_SRC))
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^
$(LLHTTP_LIB): $(LLHTTP_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^
$(BUILD)/lib/libedgeclient.a: $(patsubst %.c,$(BUILD)/%.o,$(CLIENT_LIB_SRC))
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

link_libs = -Wl,--start-group $(foreach l,$(1),$(call lib_of,$(l))) -Wl,--end-group \
            $(if $(filter rag,$(1)),$(FAISS_LIBS)) $(if $(filter-out kernels,$(1)),$(LDLIBS),-lpthread -lm)

$(BUILD)/edged: $(BUILD)/daemon/main.o $(foreach l,$(EDGED_LIBS),$(call lib_of,$(l)))
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(call link_libs,$(EDGED_LIBS))

# edgectl links nothing of the daemon: pull checks downloads with its own GGUF reader.
EDGECTL_LIBS := $(LIBS_client)
$(BUILD)/edgectl: $(patsubst %.c,$(BUILD)/%.o,$(EDGECTL_SRC)) $(foreach l,$(EDGECTL_LIBS),$(call lib_of,$(l)))
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(call link_libs,$(EDGECTL_LIBS)) -lcurl

# One test, bench or tool program per source file, linked with its subsystem's archives.
define program_rule
$(patsubst %.c,$(BUILD)/%,$(1)): $(patsubst %.c,$(BUILD)/%.o,$(1)) $(foreach l,$(call libs_for,$(call test_sub,$(1))),$(call lib_of,$(l)))
	@$$(if $(Q),echo "  LD      $$@")
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$< $$(call link_libs,$(call libs_for,$(call test_sub,$(1))))
endef
$(foreach t,$(UNIT_SRC) $(KTEST_SRC) $(MTEST_SRC) $(BENCH_SRC) $(TOOL_SRC),$(eval $(call program_rule,$(t))))

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- deps ----
# Every Debian package the build and the tests use (README: dependency table).
APT_PACKAGES := build-essential pkg-config libuv1-dev node-llhttp libmbedtls-dev libfaiss-dev \
    libjansson-dev libsqlite3-dev libinih-dev libsystemd-dev libcurl4-openssl-dev libpcre2-dev \
    libblas-dev liblapack-dev dpkg-dev systemd curl \
    python3 python3-numpy python3-torch python3-pytest python3-yaml \
    clang libclang-rt-14-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user

deps: deps-apt deps-npm $(DEPS_DIR)/libfaiss_c.a

# Node.js may come from elsewhere with its own npm (Debian's npm package would
# conflict with it): nodejs and npm are installed only when the commands are missing.
deps-apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	else echo "deps: installing$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

deps-npm: tests/integration/node/node_modules/.package-lock.json
tests/integration/node/node_modules/.package-lock.json: tests/integration/node/package-lock.json
	cd tests/integration/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The faiss C API: Debian ships its headers and libfaiss.a but not the C API's
# implementation, so it is compiled from Debian's own faiss source package.
# apt runs with a private source list and state directory (deb-src lines made
# from the system's own deb lines); the system's apt configuration is untouched.
$(DEPS_DIR)/libfaiss_c.a:
	@echo "deps: building the faiss C API from Debian's faiss source package"
	$(Q)set -e; d=$(DEPS_DIR)/faiss-src; rm -rf $$d; mkdir -p $$d/apt/parts $$d/apt/lists/partial $$d/dl $$d/obj; \
	for f in /etc/apt/sources.list.d/*.sources; do [ -f "$$f" ] && sed 's/^Types:.*deb\b.*/Types: deb-src/' "$$f" > $$d/apt/parts/$$(basename $$f); done; \
	if [ -f /etc/apt/sources.list ]; then grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > $$d/apt/sources.list; else : > $$d/apt/sources.list; fi; \
	aptopt="-o Dir::Etc::SourceParts=$$PWD/$$d/apt/parts -o Dir::Etc::SourceList=$$PWD/$$d/apt/sources.list -o Dir::State::Lists=$$PWD/$$d/apt/lists -o APT::Sandbox::User=root"; \
	apt-get $$aptopt -qq update; \
	(cd $$d/dl && apt-get $$aptopt -qq source --download-only faiss); \
	tar -xzf $$d/dl/faiss_*.orig.tar.gz -C $$d; src=$$(ls -d $$d/faiss-*/ | head -1); \
	for f in $$src/c_api/*.cpp $$src/c_api/impl/*.cpp $$src/c_api/utils/*.cpp; do \
	  [ -f "$$f" ] || continue; \
	  o=$$d/obj/$$(echo $${f#$$src} | tr / _ | sed 's/\.cpp$$/.o/'); \
	  g++ -std=c++17 -O2 -fPIC -w -I$$src -c "$$f" -o "$$o"; \
	done; \
	ar rcs $@.tmp $$d/obj/*.o && mv $@.tmp $@; \
	mkdir -p $(DEPS_DIR)/include && rm -rf $(DEPS_DIR)/include/faiss_c && cp -r $$src/c_api $(DEPS_DIR)/include/faiss_c
	@echo "deps: built $@"

# ---------------------------------------------------------------- run ----
# The first command on a fresh machine: installs what is missing (make deps),
# builds edged and edgectl, and serves ../shared's small trained model when it
# is there (etc/edged-dev.conf plus its [model] path, in build/run/edged.conf).
DEV_MODEL := ../shared/testdata/real/edged-tiny-26m-q8_0.gguf
run: deps
	$(Q)$(MAKE) --no-print-directory $(if $(Q),-s) $(BUILD)/edged $(BUILD)/edgectl
	@mkdir -p build/run/state
	@cp etc/edged-dev.conf build/run/edged.conf
	@if [ -f $(DEV_MODEL) ]; then \
	  printf '\n[model]\npath = %s\ncontext = 0\n' "$(abspath $(DEV_MODEL))" >> build/run/edged.conf; \
	  echo "run: serving $(DEV_MODEL)"; \
	else echo "run: $(DEV_MODEL) is not there: serving no model (set [model] path in build/run/edged.conf)"; fi
	$(BUILD)/edged --config build/run/edged.conf

# ---------------------------------------------------------------- tests ----
# `make test` = deps, build, then every suite; tests/run prints TAP per program
# and one closing line 'N passed, N failed'.
test: deps
	$(Q)$(MAKE) --no-print-directory $(if $(Q),-s) all
	$(Q)$(MAKE) --no-print-directory $(if $(Q),-s) test-arch test-unit test-tsan test-aarch64 test-reference test-integration test-fuzz test-systemd
	@echo "make test: all suites passed"

# The layering of DESIGN section 3, file by file: forbidden includes (kernels or
# clients -> daemon, core -> any other folder, a wrapped library's headers
# outside its wrapper) fail here, with the rule and FILE:LINE.
test-arch:
	$(Q)tests/tools/arch_check --self-test && tests/tools/arch_check

test-unit: $(UNIT_BIN) $(KTEST_BIN) $(MTEST_BIN) $(TOOL_BIN)
	$(Q)BUILD=$(BUILD) ED_TEST_LABEL=unit tests/run $(UNIT_BIN) $(KTEST_BIN) $(MTEST_BIN)

# The threaded parts under ThreadSanitizer: the compute pool and the engine
# thread with its hand-back to the loop, the API's work on the uv pool, and the
# store's worker (its opening, then jobs) with its answers on the loop, and
# the base model lent to borrowers on several threads.
TSAN_BUILD := build/san-thread
TSAN_TESTS := tests/kernels/pool tests/unit/core/histogram tests/unit/adapt/gate tests/unit/engine/engine tests/unit/api/work \
              tests/unit/rag/service tests/unit/model/base tests/kernels/backward tests/unit/adapt/trainer
test-tsan:
	$(Q)$(MAKE) --no-print-directory $(if $(Q),-s) SANITIZE=thread $(addprefix $(TSAN_BUILD)/,$(TSAN_TESTS))
	$(Q)TSAN_OPTIONS=halt_on_error=1 ED_TEST_LABEL=tsan tests/run $(addprefix $(TSAN_BUILD)/,$(TSAN_TESTS))

# The kernels' tests on the Pi's instruction set: cross-built for aarch64 and
# run under qemu as a Pi 5 (dotprod) and as a Pi 4 (plain NEON, cortex-a72).
AARCH64_BUILD := build/aarch64
# Debian's aarch64 gcc 12 crashes (internal compiler error in
# vect_transform_reduction) auto-vectorising a test's reduction loop; the
# test programs do not need it, the kernels keep their flags.
$(AARCH64_BUILD)/tests/%.o: CFLAGS += -fno-tree-vectorize
test-aarch64:
	$(Q)$(MAKE) --no-print-directory $(if $(Q),-s) CC=aarch64-linux-gnu-gcc BUILD=$(AARCH64_BUILD) SANITIZE= \
	    $(patsubst $(BUILD)/%,$(AARCH64_BUILD)/%,$(KTEST_BIN))
	$(Q)QEMU_LD_PREFIX=/usr/aarch64-linux-gnu QEMU_CPU=max ED_TEST_RUNNER=qemu-aarch64 ED_TEST_LABEL=aarch64-dotprod \
	    tests/run $(patsubst $(BUILD)/%,$(AARCH64_BUILD)/%,$(KTEST_BIN))
	$(Q)QEMU_LD_PREFIX=/usr/aarch64-linux-gnu QEMU_CPU=cortex-a72 ED_TEST_RUNNER=qemu-aarch64 ED_TEST_LABEL=aarch64-neon \
	    tests/run $(patsubst $(BUILD)/%,$(AARCH64_BUILD)/%,$(KTEST_BIN))

test-reference: all
	$(Q)if ls tests/reference/test_*.py >/dev/null 2>&1; then \
	  BUILD=$(BUILD) ED_TEST_LABEL=reference PYTHONPATH=tests $(PYTHON) -m pytest -q -p no:cacheprovider -p suite_summary tests/reference; fi

test-integration: all
	$(Q)if ls tests/integration/test_*.py >/dev/null 2>&1; then \
	  BUILD=$(BUILD) ED_TEST_LABEL=integration PYTHONPATH=tests $(PYTHON) -m pytest -q -p no:cacheprovider -p suite_summary tests/integration; fi

test-systemd:
	$(Q)tests/systemd/check

# ---------------------------------------------------------------- fuzz ----
# Fuzz drivers are built by clang with libFuzzer into build/fuzz/.
build/fuzz/bin/%: FORCE
	$(Q)$(MAKE) --no-print-directory $(if $(Q),-s) CC=clang BUILD=build/fuzz FUZZ=1 SANITIZE= \
	    $(foreach l,$(call libs_for,$(call test_sub,tests/fuzz/$*.c)),build/fuzz/lib/lib$(l).a) build/fuzz/tests/fuzz/$*.o
	@mkdir -p $(@D)
	$(Q)clang -fsanitize=fuzzer,address,undefined -o $@ build/fuzz/tests/fuzz/$*.o \
	    -Wl,--start-group $(foreach l,$(call libs_for,$(call test_sub,tests/fuzz/$*.c)),build/fuzz/lib/lib$(l).a) -Wl,--end-group \
	    $(if $(call needs_faiss,$(call test_sub,tests/fuzz/$*.c)),$(FAISS_LIBS)) $(LDLIBS)
FORCE:

test-fuzz: $(FUZZ_BIN)
	$(Q)tests/fuzz/run 10 $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	$(Q)tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BIN)

# ---------------------------------------------------------------- bench ----
bench: all
	$(Q)BUILD=$(BUILD) tests/bench/run

# ---------------------------------------------------------------- install ----
BINDIR      := $(PREFIX)/bin
LIBDIR      := $(PREFIX)/lib
INCLUDEDIR  := $(PREFIX)/include
UNITDIR     ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d
SYSCONFDIR  ?= /etc

install: $(BUILD)/edged $(BUILD)/edgectl $(BUILD)/lib/libedgeclient.a
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(SYSCONFDIR)/edged
	install -m 0755 $(BUILD)/edged $(BUILD)/edgectl $(DESTDIR)$(BINDIR)/
	install -m 0644 $(BUILD)/lib/libedgeclient.a $(DESTDIR)$(LIBDIR)/
	install -m 0644 clients/lib/edgeclient.h $(DESTDIR)$(INCLUDEDIR)/
	sed 's|@BINDIR@|$(BINDIR)|g' systemd/edged.service > $(DESTDIR)$(UNITDIR)/edged.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/edged.service
	install -m 0644 systemd/edged.socket $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/edged.sysusers $(DESTDIR)$(SYSUSERSDIR)/edged.conf
	install -m 0644 systemd/edged.tmpfiles $(DESTDIR)$(TMPFILESDIR)/edged.conf
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/edged/edged.conf ]; then \
	  echo "install: keeping existing $(DESTDIR)$(SYSCONFDIR)/edged/edged.conf (new defaults: $(DESTDIR)$(SYSCONFDIR)/edged/edged.conf.new)"; \
	  install -m 0640 etc/edged.conf $(DESTDIR)$(SYSCONFDIR)/edged/edged.conf.new; \
	else install -m 0640 etc/edged.conf $(DESTDIR)$(SYSCONFDIR)/edged/edged.conf; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/edged $(DESTDIR)$(BINDIR)/edgectl $(DESTDIR)$(LIBDIR)/libedgeclient.a \
	    $(DESTDIR)$(INCLUDEDIR)/edgeclient.h $(DESTDIR)$(UNITDIR)/edged.service $(DESTDIR)$(UNITDIR)/edged.socket \
	    $(DESTDIR)$(SYSUSERSDIR)/edged.conf $(DESTDIR)$(TMPFILESDIR)/edged.conf \
	    $(DESTDIR)$(SYSCONFDIR)/edged/edged.conf.new
	@echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/edged/edged.conf and the state directory are left in place"

clean:
	rm -rf build/lib build/daemon build/kernels build/clients build/tests build/edged build/edgectl \
	    build/san-* build/aarch64 build/fuzz build/run
