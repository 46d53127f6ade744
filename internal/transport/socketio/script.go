package socketio

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/progress-relay/progress-relay/internal/reply"
	socketioclient "github.com/progress-relay/progress-relay/third_party/socket.io-client"
)

// script is one file of the bundled socket.io client, ready to serve.
type script struct {
	body        []byte
	etag        string
	contentType string
}

// loadScripts prepares the bundled client files, keyed by the name they are requested under.
func loadScripts() map[string]script {
	out := map[string]script{}
	for _, name := range socketioclient.Names {
		body, _ := socketioclient.File(name) // every listed name is embedded
		sum := sha256.Sum256(body)
		ct := "application/javascript; charset=utf-8"
		if strings.HasSuffix(name, ".map") {
			ct = "application/json; charset=utf-8"
		}
		out[name] = script{
			body:        body,
			etag:        `"` + socketioclient.Version() + "-" + hex.EncodeToString(sum[:8]) + `"`,
			contentType: ct,
		}
	}
	return out
}

// serveScript answers GET <prefix>socket.io.js and its siblings. Browsers revalidate on each page
// load and get 304 while the relay serves the same bundle, so an upgrade is picked up at once.
func (s *Server) serveScript(w http.ResponseWriter, r *http.Request, name string) {
	sc, ok := s.scripts[name]
	if !ok {
		reply.Error(w, http.StatusNotFound, "no such file under the Socket.IO path")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		reply.Error(w, http.StatusMethodNotAllowed, "the client script is read with GET")
		return
	}
	h := w.Header()
	h.Set("Content-Type", sc.contentType)
	h.Set("ETag", sc.etag)
	h.Set("Cache-Control", "public, max-age=0, must-revalidate")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(sc.body))
}
