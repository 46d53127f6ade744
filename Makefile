# Progress Relay. The README's two commands:
#   make demo   build Caddy with the module and the example backend, run both (Ctrl-C stops)
#   make test   every test; installs what it needs first (Go modules, npm packages, Chromium if root)

FUZZTIME ?= 10s
CADDY := $(CURDIR)/caddy
NPM_CI := npm ci --no-audit --no-fund --loglevel=error

.PHONY: demo test deps lint unit fuzz caddy e2e e2e-socketio e2e-sse e2e-browser bench-ci

demo:
	./examples/demo/run.sh

test: deps lint caddy unit fuzz e2e bench-ci

deps:
	go mod download
	$(NPM_CI) --prefix e2e/socketio
	$(NPM_CI) --prefix e2e/sse
	$(NPM_CI) --prefix e2e/browser
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
		else echo "The browser tests need Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || { echo "The cluster tests need Redis on 127.0.0.1:6379" >&2; exit 1; }

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

# CADDY_BIN: the exit test runs the built Caddy and sends it SIGTERM.
unit:
	CADDY_BIN=$(CADDY) go test -race -count=1 ./...

# Each fuzz target for a bounded time; the seed corpora also run in every "go test".
fuzz:
	go test -run '^$$' -fuzz '^FuzzParseBody$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./internal/ingest/webhook
	go test -run '^$$' -fuzz '^FuzzParser$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./internal/ingest/sse
	go test -run '^$$' -fuzz '^FuzzRegistration$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./internal/transport/websocket
	go test -run '^$$' -fuzz '^FuzzParseFrame$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./internal/transport/websocket
	go test -run '^$$' -fuzz '^FuzzDecodeNotice$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./internal/broker
	go test -run '^$$' -fuzz '^FuzzRegisterArgs$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./internal/transport/socketio

caddy:
	./xcaddy.sh

e2e: e2e-socketio e2e-sse e2e-browser

e2e-socketio:
	cd e2e/socketio && CADDY_BIN=$(CADDY) npm run test:caddy

e2e-sse:
	cd e2e/sse && CADDY_BIN=$(CADDY) npm run test:caddy

e2e-browser:
	cd e2e/browser && CADDY_BIN=$(CADDY) npm test

bench-ci:
	go run ./bench/cmd/relaybench -mode ci -caddy $(CADDY)
