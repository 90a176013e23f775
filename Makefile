# Staticcheck is pinned; v0.8.x is the release line built for Go 1.26.
STATICCHECK_VERSION := v0.8.2
# `make tools` installs it; otherwise `go run` fetches and caches it.
STATICCHECK ?= go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: test test-deps tools

# The tests' XMPP client (go-xmpp) honours HTTP_PROXY even for loopback, so
# every recipe gets 127.0.0.1 and localhost appended to NO_PROXY (taken from
# NO_PROXY, else no_proxy, as Go does; entries already there are not
# repeated), and no_proxy set the same.
comma := ,
empty :=
space := $(empty) $(empty)
no_proxy_list := $(subst $(comma),$(space),$(or $(NO_PROXY),$(no_proxy)))
no_proxy_list += $(filter-out $(no_proxy_list),127.0.0.1 localhost)
override NO_PROXY := $(subst $(space),$(comma),$(strip $(no_proxy_list)))
override no_proxy := $(NO_PROXY)
export NO_PROXY no_proxy

# test is what CI runs: formatting, vet, staticcheck, then every test with the
# race detector. End-to-end tests start real servers (see test-deps); without
# them they skip locally and fail under CI=true.
test:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt -l: these files need gofmt -w:" >&2; \
		echo "$$unformatted" >&2; \
		exit 1; \
	fi
	go vet ./...
	$(STATICCHECK) ./...
	go test -race -count=1 -timeout 30m ./...

# test-deps installs the servers the end-to-end tests run, and Chromium for
# the console's browser tests (needs root or sudo).
test-deps:
	apt-get install -y --no-install-recommends chromium fonts-noto-cjk
	bash scripts/prosody.sh install
	bash scripts/mail.sh install
	bash scripts/postgres.sh install
	bash scripts/ejabberd.sh install

# tools installs the pinned staticcheck into $(go env GOPATH)/bin.
tools:
	go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: demo demo-stop bench bench-e2e

# demo brings up Prosody and the gateway on loopback with the example config.
demo:
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo.sh stop

# bench runs the testing.B benchmarks (the 1M-relationship ones take a while
# the first time: they build their data set once and cache it).
bench:
	go test -run '^$$' -bench . -benchmem ./routing/ ./identity/ ./gateway/ ./outreach/

# bench-e2e runs the end-to-end benchmarks on real Prosody and Dovecot: the
# relay against direct messages, a 10 MiB file relayed against a direct
# share, a colleague's messages during a 10,000-contact broadcast against
# the same alone, mail ingest, and `kakehashi serve` with a million
# relationships (start time and resident memory).
bench-e2e:
	go test ./e2e/ -run '^$$' -bench 'Relay|MailIngest|Serve1M' -benchtime 1x -count=1 -v
