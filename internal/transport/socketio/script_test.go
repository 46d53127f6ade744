package socketio

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	socketioclient "github.com/progress-relay/progress-relay/third_party/socket.io-client"
)

func TestClientScriptIsServedWithCachingHeaders(t *testing.T) {
	tr := newTestRelay(t, Config{})
	for _, name := range []string{"socket.io.js", "socket.io.min.js", "socket.io.min.js.map"} {
		resp, err := http.Get(tr.url + "/socket.io/" + name)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want, _ := socketioclient.File(name)
		wantType := "application/javascript; charset=utf-8"
		if strings.HasSuffix(name, ".map") {
			wantType = "application/json; charset=utf-8"
		}
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) ||
			resp.Header.Get("Content-Type") != wantType || !strings.HasPrefix(etag, `"`+socketioclient.Version()+"-") {
			t.Fatalf("%s: %d, %s, ETag %s, %d bytes", name, resp.StatusCode, resp.Header.Get("Content-Type"), etag, len(body))
		}

		req, _ := http.NewRequest(http.MethodGet, tr.url+"/socket.io/"+name, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s revalidated: %d, want 304", name, resp.StatusCode)
		}
	}

	for path, status := range map[string]int{
		"/socket.io/socket.io.esm.min.js": http.StatusNotFound,
		"/socket.io/VERSION":              http.StatusNotFound,
	} {
		resp, err := http.Get(tr.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, status)
		}
	}
	resp, err := http.Post(tr.url+"/socket.io/socket.io.js", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST socket.io.js: %d, want 405", resp.StatusCode)
	}
}
