#!/usr/bin/env bash
# Fetches the socket.io-client browser bundle that the relay serves at <prefix>socket.io.js.
#
#   ./refresh.sh            re-fetch the version in VERSION and check it against SHA256SUMS
#   ./refresh.sh 4.8.5      switch to another 4.x release and pin its checksums
#
# The tarball comes from the npm registry (`npm pack`); its sha512 is checked against the
# registry's published integrity, and the tarball and every vendored file against SHA256SUMS.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
pinned=$(cat "$here/VERSION")
want=${1:-$pinned}
files=(LICENSE dist/socket.io.js dist/socket.io.js.map dist/socket.io.min.js dist/socket.io.min.js.map)

case $want in
4.*) ;;
*) echo "refresh.sh: only socket.io-client 4.x is supported (got $want)" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=socket.io-client-$want.tgz

(cd "$work" && npm pack --silent "socket.io-client@$want" >/dev/null)

published=$(npm view "socket.io-client@$want" dist.integrity)
computed="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
if [ "$published" != "$computed" ]; then
	echo "refresh.sh: $tarball does not match the registry's integrity $published" >&2
	exit 1
fi

mkdir -p "$work/stage/dist"
tar -xzf "$work/$tarball" -C "$work"
mv "$work/$tarball" "$work/stage/"
for f in "${files[@]}"; do
	cp "$work/package/$f" "$work/stage/$f"
done

if [ "$want" = "$pinned" ] && [ -f "$here/SHA256SUMS" ]; then
	# Same version: everything must match what is pinned, byte for byte.
	(cd "$work/stage" && sha256sum --check --quiet "$here/SHA256SUMS")
else
	(cd "$work/stage" && sha256sum "$tarball" "${files[@]}") >"$here/SHA256SUMS"
	echo "$want" >"$here/VERSION"
	echo "refresh.sh: pinned socket.io-client $want; review the diff and run go test ./third_party/..."
fi

mkdir -p "$here/dist"
for f in "${files[@]}"; do
	cp "$work/stage/$f" "$here/$f"
done
echo "refresh.sh: socket.io-client $want verified"
