# Hutch. `make` builds bin/hutch and the bin/hutch-runc link; `make test` runs
# every test (as root); `make deps` installs what those need on Debian 12.

GO       ?= go
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
DESTDIR  ?=
GOFLAGS  ?=
# Integration tests start real containers one package at a time.
TESTTIMEOUT ?= 30m

export CGO_ENABLED := 1

.PHONY: all build install uninstall deps test test-unit test-integration \
	test-cgroup2 conformance test-interop bench bench-images bench-engine bench-network vet clean FORCE

all: build

build: bin/hutch bin/hutch-runc

# A static binary: the runtime starts hutch twice per container (the
# command, then the container's init), and a dynamic one spends about a
# millisecond of each start in the dynamic loader. libseccomp.a comes with
# libseccomp-dev; netgo and osusergo keep glibc's NSS (which cannot work
# statically) out.
STATIC_FLAGS = -tags netgo,osusergo -ldflags '-linkmode external -extldflags "-static"'

# Always ask go: it knows whether anything changed.
bin/hutch: FORCE
	$(GO) build $(GOFLAGS) $(STATIC_FLAGS) -o $@ ./cmd/hutch

bin/hutch-runc: bin/hutch
	ln -sfn hutch $@

install: build
	install -D -m 0755 bin/hutch $(DESTDIR)$(BINDIR)/hutch
	ln -sfn hutch $(DESTDIR)$(BINDIR)/hutch-runc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hutch-runc $(DESTDIR)$(BINDIR)/hutch

deps:
	scripts/deps.sh

# Unit tests: every package but the end-to-end ones.
UNIT_PKGS = $$($(GO) list ./... | grep -v '/tests/')

# Everything: unit tests, end-to-end tests of the binary, the cgroup v2
# tests in a qemu guest, the OCI runtime-tools suite (fails on any failure
# not listed as a test bug or host limit) and Docker/Podman running their
# containers with hutch-runc.
test: test-unit test-integration test-cgroup2 conformance test-interop

test-unit:
	$(GO) test $(GOFLAGS) -timeout $(TESTTIMEOUT) $(UNIT_PKGS)

# End-to-end tests of the built binary, as root, one package at a time.
test-integration: build
	@if [ -z "$$($(GO) list ./tests/integration/... 2>/dev/null)" ]; then \
		echo "test-integration: no integration tests yet"; \
	else \
		HUTCH_BIN=$(CURDIR)/bin/hutch $(GO) test $(GOFLAGS) -count=1 -p 1 \
			-timeout $(TESTTIMEOUT) ./tests/integration/...; \
	fi

# The cgroup tests on pure cgroup v2, in a qemu guest booting Debian's
# kernel with a busybox initramfs (docs/cgroup2-vm.md). It builds its own
# static bin/hutch and test binaries; about 2 minutes.
test-cgroup2:
	GO=$(GO) tests/cgroup2/run.sh

# OCI runtime-tools validation suite against bin/hutch-runc
# (RUNTIME=/usr/sbin/runc make conformance to calibrate).
conformance: build
	tests/conformance/run.sh

# hutch-runc against crun and runc, side by side.
bench: build
	bench/run.sh

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
	@# _work may hold mounts left by a failed run: never cross into them.
	rm -rf --one-file-system tests/conformance/_work bench/_work

FORCE:

# Docker 20.10 and Podman 4.3 run their containers with bin/hutch-runc
# (apt-get install docker.io containerd podman; see docs/interop.md).
test-interop: build
	tests/interop/run.sh

# Image unpack and pull against umoci, skopeo and tar (bench/images.sh).
bench-images: build
	bench/images.sh

bench-engine: build
	bench/engine.sh

# Bridge throughput against a hand-made veth+bridge path, and attach time
# against netavark (bench/network.sh).
bench-network: build
	bench/network.sh
