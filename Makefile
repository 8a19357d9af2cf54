# Front door.  `make demo` runs the three-node demo; `make check` runs every test
# (unit + integration, then again under ASan+UBSan).
BUILD ?= build
ASAN  ?= build-asan
RELEASE ?= build-release
PYTEST = /usr/bin/python3 -m pytest

.PHONY: all deps build asan release check check-fast check-asan demo demo-ee bench fuzz-short clean package

all: build

deps:
	./scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN)/build.ninja:
	meson setup $(ASAN) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

asan: $(ASAN)/build.ninja
	ninja -C $(ASAN)

# What packagers build: -O3 with Debian's hardening flags (_FORTIFY_SOURCE,
# stack protector, relro); -Werror stays on, so a warning that only -O3 or
# fortify sees (format-truncation, say) fails here.
$(RELEASE)/build.ninja:
	CFLAGS="$$(dpkg-buildflags --get CFLAGS)" CPPFLAGS="$$(dpkg-buildflags --get CPPFLAGS)" \
	  LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)" meson setup $(RELEASE) -Dbuildtype=release

release: $(RELEASE)/build.ninja
	ninja -C $(RELEASE)

# Unit + integration tests against one build directory.  The runner tests
# have a conftest of their own, so they run in a pytest of their own.
check-fast: build
	meson test -C $(BUILD) --print-errorlogs
	RECEPTOR_BUILD=$(abspath $(BUILD)) $(PYTEST) -q tests/integration --ignore=tests/integration/runner
	RECEPTOR_BUILD=$(abspath $(BUILD)) $(PYTEST) -q tests/integration/runner

# LSAN_OPTIONS=use_tls=0: gcc 12's LeakSanitizer crashes ("Tracer caught signal
# 11") scanning the thread-local storage of a library loaded with dlopen, which
# is how the daemon maps GnuTLS (core/gnutls_lib.h).  Not scanning TLS can only
# report more leaks, never hide one; the one false report that follows (the
# dynamic loader's own bookkeeping) is suppressed in tests/lsan.supp.
SAN_ENV = LSAN_OPTIONS=use_tls=0:print_suppressions=0:suppressions=$(abspath tests/lsan.supp) \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

check-asan: asan
	$(SAN_ENV) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 meson test -C $(ASAN) --print-errorlogs
	$(SAN_ENV) ASAN_OPTIONS=detect_leaks=1 RECEPTOR_BUILD=$(abspath $(ASAN)) RECEPTOR_SANITIZED=1 \
	  $(PYTEST) -q tests/integration --ignore=tests/integration/runner
	$(SAN_ENV) ASAN_OPTIONS=detect_leaks=1 RECEPTOR_BUILD=$(abspath $(ASAN)) RECEPTOR_SANITIZED=1 \
	  $(PYTEST) -q tests/integration/runner

FUZZ  ?= build-fuzz
FUZZ_SECONDS ?= 15

$(FUZZ)/build.ninja:
	CC=clang meson setup $(FUZZ) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

# A short run of every libFuzzer target (longer runs by hand: FUZZ_SECONDS=600),
# seeded from tests/fuzz/corpus/<target> (frames and configs captured from upstream).
fuzz-short: $(FUZZ)/build.ninja
	ninja -C $(FUZZ)
	for t in $$(find $(FUZZ)/tests/fuzz -type f -executable -name 'fuzz_*'); do \
	  echo "fuzz: $$t"; mkdir -p $(FUZZ)/corpus/$$(basename $$t); \
	  seeds=tests/fuzz/corpus/$$(basename $$t); [ -d $$seeds ] || seeds=; \
	  log=$(FUZZ)/corpus/$$(basename $$t).log; \
	  if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	      -artifact_prefix=$(FUZZ)/ $(FUZZ)/corpus/$$(basename $$t) $$seeds >$$log 2>&1; then \
	    tail -40 $$log; echo "fuzz: $$t FAILED (input saved under $(FUZZ)/)"; exit 1; fi; \
	  tail -1 $$log; \
	done

check: deps release check-fast check-long check-asan fuzz-short

# The AWX flow on controller -> hop -> execution (TLS, signing): see scripts/demo.
demo: deps build
	./scripts/demo $(BUILD)

# The same job in an execution-environment container pulled from a local registry.
demo-ee: deps build
	./scripts/demo --ee $(BUILD)

bench: build
	./bench/run-all

# Debian packages (debian/): receptor-c and ansible-runner-c, built with
# dpkg-buildpackage from a copy of the tree in $(PKGDIR) (dpkg-buildpackage
# writes the .debs next to the source dir, so the copy keeps them out of the
# parent directory).  The copy is the working tree's tracked and new files.
PKGDIR ?= build-deb
package: deps
	rm -rf $(PKGDIR) && mkdir -p $(PKGDIR)/receptor-c
	git ls-files -co --exclude-standard | grep -v '^$(PKGDIR)/' | \
	  tar -cf - -T - --ignore-failed-read | tar -xf - -C $(PKGDIR)/receptor-c
	cd $(PKGDIR)/receptor-c && dpkg-buildpackage -us -uc -b
	ls -l $(PKGDIR)/*.deb

clean:
	rm -rf $(BUILD) $(ASAN) $(RELEASE) $(FUZZ) $(PKGDIR)

# Tests marked `long` (minutes each, e.g. the chaos test), left out of check-fast.
.PHONY: check-long
check-long: build
	RECEPTOR_BUILD=$(abspath $(BUILD)) $(PYTEST) -q -m long tests/integration --ignore=tests/integration/runner
