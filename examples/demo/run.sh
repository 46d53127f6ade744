#!/bin/sh
# Builds Caddy with the module and the example backend, and runs both until Ctrl-C.
set -eu
cd "$(dirname "$0")/../.."

export PROGRESS_RELAY_SECRET="${PROGRESS_RELAY_SECRET:-demo-secret-change-me}"
[ -x ./caddy ] && [ ./caddy -nt go.sum ] && [ -z "$(find caddymodule internal tokens progressrelay.go -newer ./caddy -name '*.go' -o -newer ./caddy -name '*.js' -o -newer ./caddy -name '*.html' -o -newer ./caddy -name '*.css' | head -n1)" ] || ./xcaddy.sh
mkdir -p out
go build -o out/importbackend ./examples/importbackend

out/importbackend -listen 127.0.0.1:9090 -report webhook -relay-url http://127.0.0.1:8080/hooks/progress &
backend=$!
./caddy run --config Caddyfile --adapter caddyfile &
relay=$!
trap 'kill $backend $relay 2>/dev/null; wait $backend $relay 2>/dev/null; exit 0' INT TERM
echo
echo "Progress Relay demo: open http://localhost:8080/test-socket-io.html (Ctrl-C stops)"
echo
wait $relay
kill $backend 2>/dev/null
