# Staticcheck is pinned; v0.8.x is the release line built for Go 1.26.
STATICCHECK_VERSION := v0.8.2
# `make tools` installs it; otherwise `go run` fetches and caches it.
STATICCHECK ?= go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: test test-deps tools

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

# test-deps installs the servers the end-to-end tests run (needs root or sudo).
test-deps:
	bash scripts/prosody.sh install

# tools installs the pinned staticcheck into $(go env GOPATH)/bin.
tools:
	go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
