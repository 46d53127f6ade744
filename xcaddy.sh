#!/bin/sh
# Builds ./caddy: Caddy with the progress_relay module from this checkout, the way users build it.
set -eu
cd "$(dirname "$0")"

CADDY_VERSION=v2.11.9
XCADDY_VERSION=v0.4.5
XCADDY="$(go env GOPATH)/bin/xcaddy"
if [ ! -x "$XCADDY" ] || ! "$XCADDY" version 2>/dev/null | grep -q "$XCADDY_VERSION"; then
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
fi
# A local checkout has no published version, so it is pinned as v0.0.0 and replaced by this
# directory; without a version xcaddy would ask the module proxy for the latest one first.
"$XCADDY" build "$CADDY_VERSION" \
	--output ./caddy \
	--with github.com/progress-relay/progress-relay@v0.0.0=./ "$@"
./caddy list-modules | grep -q '^http.handlers.progress_relay$'
