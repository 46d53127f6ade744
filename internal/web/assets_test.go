package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestAssets(t *testing.T, cfg Config) (*Assets, *httptest.Server) {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.Serve(w, r) {
			http.Error(w, "next handler", http.StatusTeapot)
		}
	}))
	t.Cleanup(ts.Close)
	return a, ts
}

func do(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestAssetsAreServedWithTheirTypeAnETagAndNoCache(t *testing.T) {
	a, ts := newTestAssets(t, DefaultConfig())
	for path, want := range map[string]struct {
		contentType string
		body        []byte
	}{
		"/test-socket-io.html": {"text/html; charset=utf-8", a.TestPage()},
		"/progress-relay.js":   {"text/javascript; charset=utf-8", a.ClientJS()},
		"/progress-relay.mjs":  {"text/javascript; charset=utf-8", a.ClientModule()},
	} {
		t.Run(path, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, ts.URL+path, nil)
			h := resp.Header
			if resp.StatusCode != http.StatusOK || body != string(want.body) {
				t.Fatalf("status %d, %d bytes; want 200 and %d bytes", resp.StatusCode, len(body), len(want.body))
			}
			if h.Get("Content-Type") != want.contentType || h.Get("Cache-Control") != "no-cache" ||
				h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("ETag"), `"`) {
				t.Fatalf("headers %v", h)
			}
			if isPage := strings.HasSuffix(path, ".html"); isPage != (h.Get("Content-Security-Policy") != "") {
				t.Fatalf("Content-Security-Policy %q on %s", h.Get("Content-Security-Policy"), path)
			}

			again, body := do(t, http.MethodGet, ts.URL+path, http.Header{"If-None-Match": {h.Get("ETag")}})
			if again.StatusCode != http.StatusNotModified || body != "" {
				t.Fatalf("revalidation: status %d with %d bytes, want 304 and none", again.StatusCode, len(body))
			}
			head, body := do(t, http.MethodHead, ts.URL+path, nil)
			if head.StatusCode != http.StatusOK || body != "" || head.Header.Get("ETag") != h.Get("ETag") {
				t.Fatalf("HEAD: status %d, %d bytes, ETag %q", head.StatusCode, len(body), head.Header.Get("ETag"))
			}
			post, _ := do(t, http.MethodPost, ts.URL+path, nil)
			if post.StatusCode != http.StatusMethodNotAllowed || post.Header.Get("Allow") != "GET, HEAD" {
				t.Fatalf("POST: status %d, Allow %q", post.StatusCode, post.Header.Get("Allow"))
			}
		})
	}
}

func TestOtherPathsAreLeftToTheNextHandler(t *testing.T) {
	_, ts := newTestAssets(t, Config{Page: "/relay/console", ClientJS: ""})
	for _, path := range []string{"/", "/test-socket-io.html", "/progress-relay.js", "/progress-relay.mjs", "/relay/console/"} {
		if resp, _ := do(t, http.MethodGet, ts.URL+path, nil); resp.StatusCode != http.StatusTeapot {
			t.Errorf("GET %s: status %d, want the next handler's", path, resp.StatusCode)
		}
	}
	if resp, _ := do(t, http.MethodGet, ts.URL+"/relay/console", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /relay/console: status %d", resp.StatusCode)
	}
}

func TestAnotherConfigurationChangesTheETag(t *testing.T) {
	a, _ := newTestAssets(t, DefaultConfig())
	cfg := DefaultConfig()
	cfg.SocketIO = ""
	b, _ := newTestAssets(t, cfg)
	if a.client.etag == b.client.etag || a.page.etag == b.page.etag {
		t.Fatal("a different configuration kept the same ETag: browsers would keep the old paths")
	}
}
