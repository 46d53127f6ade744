#!/bin/sh
# Runs every benchmark scenario against the relay and the Node.js peer, one after the other on
# freshly started servers, and writes bench/results/{raw.jsonl,run.log,results.md,chart.svg}.
#
#   bench/run.sh          short mode: 1,000 subscribers, short steps; under 5 minutes on 2 cores
#   bench/run.sh full     the issue's sizes: 1,000 and 5,000 subscribers, 2,000 imports,
#                         10,000 idle WebSocket and SSE connections; about 20 minutes
#
# SKIP_BUILD=1 uses the existing ./caddy instead of rebuilding it with ./xcaddy.sh.
set -eu
cd "$(dirname "$0")/.."

mode="${1:-short}"
case "$mode" in short | full) ;; *) echo "usage: bench/run.sh [short|full]" >&2; exit 2 ;; esac

if [ "${SKIP_BUILD:-}" != 1 ] || [ ! -x ./caddy ]; then
	./xcaddy.sh
fi
if [ ! -d bench/peer-node/node_modules ]; then
	npm ci --no-audit --no-fund --loglevel=error --prefix bench/peer-node
fi

bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/relaybench" ./bench/cmd/relaybench
go build -o "$bin/chart" ./bench/cmd/chart

out=bench/results
mkdir -p "$out"
: >"$out/raw.jsonl"
cmd="bench/run.sh $mode  # relaybench -mode $mode -target relay,peer -caddy ./caddy -out $out/raw.jsonl"
"$bin/relaybench" -mode "$mode" -target relay,peer -caddy ./caddy -out "$out/raw.jsonl" | tee "$out/run.log"
"$bin/chart" -in "$out/raw.jsonl" -out "$out" -cmd "$cmd"
echo "wrote $out/results.md and $out/chart.svg"
