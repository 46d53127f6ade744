// Package socketioclient ships the socket.io-client 4.x browser bundle that the relay serves at
// <prefix>socket.io.js, so that pages written for a Node.js Socket.IO server
// (<script src="/socket.io/socket.io.js">) work unchanged.
//
// The files are vendored from npm, not written here: VERSION names the release, SHA256SUMS pins the
// npm tarball and every file, LICENSE is the client's MIT licence, and refresh.sh fetches and
// verifies them again (`./refresh.sh`, or `./refresh.sh 4.x.y` to move to another release).
package socketioclient

import (
	"embed"
	"strings"
)

//go:embed VERSION SHA256SUMS dist/socket.io.js dist/socket.io.js.map dist/socket.io.min.js dist/socket.io.min.js.map
var files embed.FS

// Names lists the files served to browsers, by the base name they are requested under.
var Names = []string{"socket.io.js", "socket.io.js.map", "socket.io.min.js", "socket.io.min.js.map"}

// Version is the vendored socket.io-client release, e.g. "4.8.4".
func Version() string {
	b, _ := files.ReadFile("VERSION") // embedded above, so it is always there
	return strings.TrimSpace(string(b))
}

// File returns the content of one of Names, and false for any other name.
func File(name string) ([]byte, bool) {
	for _, n := range Names {
		if n == name {
			b, err := files.ReadFile("dist/" + name)
			return b, err == nil
		}
	}
	return nil, false
}
