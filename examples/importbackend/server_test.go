package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

func TestUploadsAsMultipartCSVAndJSON(t *testing.T) {
	_, ts := newTestServer(t, settings{}, nil)

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("note", "ignored")
	fw, _ := mw.CreateFormFile("file", "users.csv")
	fw.Write([]byte(smallCSV))
	mw.Close()

	for name, c := range map[string]struct{ contentType, body string }{
		"multipart": {mw.FormDataContentType(), form.String()},
		"csv":       {"text/csv; charset=utf-8", smallCSV},
		"no type":   {"", smallCSV},
		"json":      {"application/json", `[{"email":"x@example.com","first_name":"X","last_name":"Y"},{"email":"y@example.com"}]`},
	} {
		t.Run(name, func(t *testing.T) {
			want := 5.0
			if name == "json" {
				want = 2
			}
			created, events := runImport(t, ts, "", c.contentType, c.body)
			if created["total"] != want {
				t.Fatalf("total %v, want %v", created["total"], want)
			}
			if last := checkSequence(t, events, created["sessionId"].(string)); last.Type != typeComplete || float64(last.Processed) != want {
				t.Fatalf("last %+v", last)
			}
		})
	}
}

func TestBadUploadsAreRefusedWithAReason(t *testing.T) {
	_, ts := newTestServer(t, settings{MaxRows: 3, MaxBody: 300}, nil)
	_, roomy := newTestServer(t, settings{MaxRows: 100, MaxBody: 300}, nil)
	for name, c := range map[string]struct {
		server                   string
		query, contentType, body string
		status                   int
		says                     string
	}{
		"unknown type":     {ts.URL, "", "application/xml", "<users/>", http.StatusUnsupportedMediaType, "text/csv"},
		"bad header":       {ts.URL, "", "text/csv", "email,name\nx,y\n", http.StatusBadRequest, "lacks the column(s) first_name, last_name"},
		"too many rows":    {ts.URL, "", "text/csv", smallCSV, http.StatusRequestEntityTooLarge, "at most 3 rows"},
		"too large":        {roomy.URL, "", "text/csv", "email,first_name,last_name\n" + strings.Repeat("a@example.com,A,B\n", 30), http.StatusRequestEntityTooLarge, "larger than 300 bytes"},
		"form without csv": {ts.URL, "", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--\r\n", http.StatusBadRequest, `no "file" field`},
		"bad pace":         {ts.URL, "?pace=fast", "text/csv", smallCSV, http.StatusBadRequest, "pace must be"},
		"bad start":        {ts.URL, "?start=later", "text/csv", smallCSV, http.StatusBadRequest, "start must be"},
	} {
		t.Run(name, func(t *testing.T) {
			got := post(t, c.server+"/api/import"+c.query, c.contentType, c.body, c.status)
			if msg, _ := got["error"].(string); !strings.Contains(msg, c.says) {
				t.Fatalf("error %q, want it to mention %q", msg, c.says)
			}
		})
	}
}

func TestADeferredImportStartsOnce(t *testing.T) {
	_, ts := newTestServer(t, settings{}, nil)
	created := post(t, ts.URL+"/api/import?start=deferred", "text/csv", smallCSV, http.StatusAccepted)
	start := ts.URL + created["start"].(string)
	post(t, start, "application/json", "{}", http.StatusAccepted)
	post(t, start, "application/json", "{}", http.StatusNotFound)
	post(t, ts.URL+"/api/import/imp-nope/start", "application/json", "{}", http.StatusNotFound)
}

func TestTheTokenHookAnswersWithAToken(t *testing.T) {
	s, ts := newTestServer(t, settings{}, nil)
	s.mintToken = func(session string) (string, error) { return "token-for-" + session, nil }
	created := post(t, ts.URL+"/api/import", "text/csv", smallCSV, http.StatusAccepted)
	if created["token"] != "token-for-"+created["sessionId"].(string) {
		t.Fatalf("answer %v", created)
	}
	if _, deferred := created["start"]; deferred {
		t.Fatalf("an import without start=deferred has a start URL: %v", created)
	}
}

func TestProgressEndpointIsAbsentInWebhookMode(t *testing.T) {
	_, ts := newTestServer(t, settings{}, newWebhookReporter(t.Context(), "http://127.0.0.1:1/", "", nil))
	resp, err := http.Get(ts.URL + "/api/import/progress/imp-1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
}
