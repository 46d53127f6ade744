package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/progress-relay/progress-relay/internal/reply"
)

// Assets serves the library and the test page rendered for one Config. It is immutable: a new
// configuration gets a new Assets.
type Assets struct {
	cfg    Config
	client asset
	module asset
	page   asset
}

// asset is one file ready to serve.
type asset struct {
	body        []byte
	etag        string
	contentType string
	policy      string // Content-Security-Policy, for the page
}

// New renders the library and the page for cfg. Paths left empty in cfg are off, except that an
// empty ClientModule follows ClientJS (see ModulePath).
func New(cfg Config) (*Assets, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	r, err := render(cfg)
	if err != nil {
		return nil, err
	}
	const js = "text/javascript; charset=utf-8"
	return &Assets{
		cfg:    cfg,
		client: newAsset(r.client, js, ""),
		module: newAsset(r.module, js, ""),
		page:   newAsset(r.page, "text/html; charset=utf-8", r.pagePolicy),
	}, nil
}

func newAsset(body []byte, contentType, policy string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: contentType, policy: policy}
}

// ClientJS is the library as a classic script, with the relay's paths filled in.
func (a *Assets) ClientJS() []byte { return a.client.body }

// ClientModule is the library as an ES module (default export and a named connect export).
func (a *Assets) ClientModule() []byte { return a.module.body }

// TestPage is the test page, with its style, configuration and scripts inline.
func (a *Assets) TestPage() []byte { return a.page.body }

// Serve answers r when its path is the page's, the library's or the module's, and reports whether
// it did; any other request is left to the caller.
func (a *Assets) Serve(w http.ResponseWriter, r *http.Request) bool {
	var as *asset
	switch p := r.URL.Path; {
	case p == "":
		return false
	case p == a.cfg.Page:
		as = &a.page
	case p == a.cfg.ClientJS:
		as = &a.client
	case p == a.cfg.ClientModule:
		as = &a.module
	default:
		return false
	}
	as.serve(w, r)
	return true
}

// serve writes the asset. Browsers revalidate on every load (no-cache) and get 304 while the
// relay serves the same bytes, so that a new version or configuration shows at once.
func (as *asset) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		reply.Error(w, http.StatusMethodNotAllowed, "read this with GET")
		return
	}
	h := w.Header()
	h.Set("Content-Type", as.contentType)
	h.Set("ETag", as.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if as.policy != "" {
		h.Set("Content-Security-Policy", as.policy)
		h.Set("Referrer-Policy", "no-referrer")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(as.body))
}
