# Image Builder. `make run` and `make test` work on a fresh Debian 12 machine as root.
SHELL := /bin/bash
.DEFAULT_GOAL := run

export CGO_ENABLED := 1
export GOFLAGS := -tags=containers_image_openpgp,exclude_graphdriver_btrfs

BIN        := bin/imagebuilder
CACHE      := .cache
BASE       := $(CACHE)/base
NPM        := $(CACHE)/npm
DRIVER     := $(CACHE)/playwright
DATA       ?= data
ADDR       ?= 127.0.0.1:8080
REGISTRY_ADDR ?= 127.0.0.1:5000

# Pinned front-end and browser-driver packages (npm registry).
HTMX_VERSION       := 2.0.11
HTMX_SSE_VERSION   := 2.2.4
PLAYWRIGHT_VERSION := 1.52.0

APT_PACKAGES := gcc libc6-dev pkg-config git ca-certificates make debootstrap busybox-static \
	chromium skopeo buildah nodejs npm fonts-noto-cjk \
	etcd-server containerd runc containernetworking-plugins iproute2 gnupg

# The test cluster's Kubernetes binaries, built from the k8sbin module once
# per go.sum and Go version (about 10 minutes cold, seconds after).
KUBE_SRC := builder/kube/kubetest/k8sbin
KUBE_KEY := $(shell (cat $(KUBE_SRC)/go.sum; go env GOVERSION) 2>/dev/null | sha256sum | cut -c1-16)
KUBE_BIN := $(CURDIR)/$(CACHE)/kube/$(KUBE_KEY)
export IMAGEBUILDER_KUBE_BIN := $(KUBE_BIN)

# BuildKit, the peer `make bench` compares with: buildkitd and buildctl
# built from its module once per version and Go version (bench only).
BUILDKIT_VERSION := v0.34.2
BUILDKIT_KEY := $(shell (echo $(BUILDKIT_VERSION); go env GOVERSION) 2>/dev/null | sha256sum | cut -c1-16)
BUILDKIT_BIN := $(CURDIR)/$(CACHE)/buildkit/$(BUILDKIT_KEY)

GO_SOURCES := $(shell find . -name '*.go' -not -path './.cache/*' -not -name '*_test.go') go.mod go.sum

.PHONY: setup apt gomod npm-assets base-rootfs kube-binaries buildkit-binaries build generate check-generated run seed test fuzz bench clean

setup: apt gomod npm-assets base-rootfs kube-binaries ## everything a build, the tests and `make run` need

apt: $(CACHE)/apt.stamp
$(CACHE)/apt.stamp: Makefile
	@mkdir -p $(CACHE)
	@missing=""; for p in $(APT_PACKAGES); do \
		case $$p in nodejs|npm) command -v $$p >/dev/null 2>&1 && continue;; esac; \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

gomod: $(CACHE)/gomod.stamp
$(CACHE)/gomod.stamp: go.mod go.sum
	@mkdir -p $(CACHE)
	go mod download
	@touch $@

npm-assets: static/vendor/htmx.min.js static/vendor/sse.js $(DRIVER)/package/cli.js
$(NPM)/package.json: | $(CACHE)/apt.stamp
	@mkdir -p $(NPM)
	cd $(NPM) && npm init -y >/dev/null && npm install --no-audit --no-fund --silent \
		htmx.org@$(HTMX_VERSION) htmx-ext-sse@$(HTMX_SSE_VERSION) playwright-core@$(PLAYWRIGHT_VERSION)
static/vendor/htmx.min.js: $(NPM)/package.json
	@mkdir -p static/vendor
	cp $(NPM)/node_modules/htmx.org/dist/htmx.min.js $@
static/vendor/sse.js: $(NPM)/package.json
	@mkdir -p static/vendor
	cp $(NPM)/node_modules/htmx-ext-sse/dist/sse.min.js $@
# playwright-go wants <dir>/package/cli.js and <dir>/node.
$(DRIVER)/package/cli.js: $(NPM)/package.json
	@mkdir -p $(DRIVER)
	ln -sfn ../npm/node_modules/playwright-core $(DRIVER)/package
	ln -sfn "$$(command -v node)" $(DRIVER)/node

kube-binaries: $(KUBE_BIN)/kubelet
$(KUBE_BIN)/kubelet: $(KUBE_SRC)/go.mod $(KUBE_SRC)/go.sum | $(CACHE)/apt.stamp
	GOFLAGS= $(KUBE_SRC)/build.sh $(KUBE_BIN)

buildkit-binaries: $(BUILDKIT_BIN)/buildctl
$(BUILDKIT_BIN)/buildctl: | $(CACHE)/apt.stamp
	cd / && GOFLAGS= go mod download github.com/moby/buildkit@$(BUILDKIT_VERSION)
	rm -rf $(BUILDKIT_BIN).tmp
	cd "$$(GOFLAGS= go env GOMODCACHE)/github.com/moby/buildkit@$(BUILDKIT_VERSION)" && \
		GOFLAGS= CGO_ENABLED=0 go build -trimpath -o $(BUILDKIT_BIN).tmp/ ./cmd/buildkitd ./cmd/buildctl
	rm -rf $(BUILDKIT_BIN) && mv $(BUILDKIT_BIN).tmp $(BUILDKIT_BIN)

base-rootfs: $(BASE)/busybox.tar $(BASE)/debian-bookworm.tar

# A one-binary busybox image: ~1 MB, builds in well under a second.
$(BASE)/busybox.tar: | $(CACHE)/apt.stamp
	@mkdir -p $(BASE)
	rm -rf $(BASE)/busybox && mkdir -p $(BASE)/busybox/{bin,etc,tmp,root}
	cp /bin/busybox $(BASE)/busybox/bin/busybox
	for a in $$($(BASE)/busybox/bin/busybox --list); do [ "$$a" = busybox ] || ln -sf busybox $(BASE)/busybox/bin/$$a; done
	echo 'root:x:0:0:root:/root:/bin/sh' > $(BASE)/busybox/etc/passwd
	echo 'root:x:0:' > $(BASE)/busybox/etc/group
	tar --numeric-owner -C $(BASE)/busybox -cf $@.tmp . && mv $@.tmp $@ && rm -rf $(BASE)/busybox

# Debian bookworm (minbase) whose apt sources are the host's Debian mirror,
# so APT lines install in builds without any internet registry.
$(BASE)/debian-bookworm.tar: | $(CACHE)/apt.stamp
	@mkdir -p $(BASE)
	rm -rf $(BASE)/bookworm
	mirror=$$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1); \
	[ -n "$$mirror" ] || mirror=$$(awk '$$1=="deb" && $$2 !~ /security/ {print $$2; exit}' /etc/apt/sources.list 2>/dev/null); \
	[ -n "$$mirror" ] || mirror=http://deb.debian.org/debian; \
	echo "debootstrap from $$mirror"; \
	debootstrap --variant=minbase bookworm $(BASE)/bookworm "$$mirror" >$(BASE)/debootstrap.log 2>&1 || { tail -20 $(BASE)/debootstrap.log; exit 1; }
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then \
		rm -f $(BASE)/bookworm/etc/apt/sources.list; \
		cp /etc/apt/sources.list.d/debian.sources $(BASE)/bookworm/etc/apt/sources.list.d/; \
	else cp /etc/apt/sources.list $(BASE)/bookworm/etc/apt/sources.list; fi
	rm -rf $(BASE)/bookworm/var/cache/apt/archives/*.deb $(BASE)/bookworm/var/lib/apt/lists/*
	tar --numeric-owner -C $(BASE)/bookworm -cf $@.tmp . && mv $@.tmp $@ && rm -rf $(BASE)/bookworm

TEMPL_VERSION := v0.3.977
TEMPL := go run github.com/a-h/templ/cmd/templ@$(TEMPL_VERSION)
generate:
	$(TEMPL) generate -path ./views

# Fails when the committed templ output is not what the .templ files give:
# generate into a copy of views/ and compare.
check-generated: | $(CACHE)/gomod.stamp
	@rm -rf $(CACHE)/templ-check && mkdir -p $(CACHE) && cp -r views $(CACHE)/templ-check
	@$(TEMPL) generate -log-level error -path $(CACHE)/templ-check
	@diff -r views $(CACHE)/templ-check >/dev/null || { diff -ru views $(CACHE)/templ-check | head -40; \
		echo "views/*_templ.go is stale: run make generate and commit"; exit 1; }
	@rm -rf $(CACHE)/templ-check

# The slim binary Buildah's re-executions start as (builder/engine/slimexec),
# embedded in the portal's binary and in every test binary that builds.
# The small one serves only the copier and archive commands.
HELPER := builder/engine/slimexec/bin/helper
SMALL_HELPER := builder/engine/slimexec/bin/small

build: $(BIN)
$(HELPER): $(GO_SOURCES) | $(CACHE)/gomod.stamp
	go build -ldflags '-s -w' -o $@ ./builder/engine/slimexec/helper
$(SMALL_HELPER): $(GO_SOURCES) | $(CACHE)/gomod.stamp
	go build -ldflags '-s -w' -o $@ ./builder/engine/slimexec/small
$(BIN): $(GO_SOURCES) $(HELPER) $(SMALL_HELPER) | $(CACHE)/gomod.stamp
	go build -o $@ .

# Import the base images into the data directory's embedded registry once.
seed: $(DATA)/.base-images
$(DATA)/.base-images: $(BASE)/busybox.tar $(BASE)/debian-bookworm.tar | $(BIN)
	@mkdir -p $(DATA)
	$(BIN) import-base --data-dir $(DATA) --registry-addr $(REGISTRY_ADDR) --rootfs $(BASE)/debian-bookworm.tar \
		--image library/debian:bookworm --cmd /bin/bash --title "Debian 12 (bookworm)" \
		--description "Debian minbase; APT installs from the host's Debian mirror"
	$(BIN) import-base --data-dir $(DATA) --registry-addr $(REGISTRY_ADDR) --rootfs $(BASE)/busybox.tar \
		--image library/busybox:latest --cmd /bin/sh --title "BusyBox" \
		--description "One static busybox binary; no package manager"
	@touch $@

run: setup build seed
	$(BIN) serve --data-dir $(DATA) --addr $(ADDR) --registry-addr $(REGISTRY_ADDR)

test: setup build check-generated
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go test -count=1 -timeout 40m ./...
	$(MAKE) --no-print-directory fuzz

# A short fuzzing run of the sign-in redirect sanitiser and each package-line
# validator, on top of the committed corpus (testdata/fuzz/). The budget is a
# count of executions, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" at the deadline without
# any failing input (go.dev/issue/75804, fixed in Go 1.27). Longer:
# make fuzz FUZZTIME=2000000x
FUZZTIME ?= 20000x
fuzz:
	go test -run '^$$' -fuzz '^FuzzSafeNext$$' -fuzztime $(FUZZTIME) ./handlers
	go test -run '^$$' -fuzz '^FuzzAPTLine$$' -fuzztime $(FUZZTIME) ./builder/spec
	go test -run '^$$' -fuzz '^FuzzPipLine$$' -fuzztime $(FUZZTIME) ./builder/spec
	go test -run '^$$' -fuzz '^FuzzCondaLine$$' -fuzztime $(FUZZTIME) ./builder/spec

# The build comparisons depend on the network (apt) and run more rounds so
# one slow download does not decide the ratio.
bench: setup build buildkit-binaries
	go test -count=1 -run '^$$' -bench 'InProcessVsCLI' -benchtime 6x -timeout 60m ./builder/engine
	IMAGEBUILDER_BUILDKIT_BIN=$(BUILDKIT_BIN) go test -count=1 -run '^$$' -bench 'VsBuildKit' -benchtime 3x -timeout 90m ./builder/engine
	go test -count=1 -run '^$$' -bench . -skip 'InProcessVsCLI|VsBuildKit' -benchtime 3x -timeout 60m ./...

clean:
	rm -rf bin static/vendor $(HELPER) $(SMALL_HELPER)
