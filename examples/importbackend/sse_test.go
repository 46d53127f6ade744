package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

const smallCSV = "email,first_name,last_name\n" +
	"ada@example.com,Ada,Lovelace\n" +
	"not-an-email,Bad,Email\n" +
	"grace@example.com,Grace,Hopper\n" +
	"ADA@example.com,Ada,Again\n" +
	"alan@example.com,,Turing\n"

func TestSSEModeStreamsEveryRowThenTheSummary(t *testing.T) {
	_, ts := newTestServer(t, settings{}, nil)
	created, events := runImport(t, ts, "&pace=1", "text/csv", smallCSV)
	session := created["sessionId"].(string)
	if created["total"] != float64(5) || created["progress"] != "/api/import/progress/"+session {
		t.Fatalf("answer %v", created)
	}
	last := checkSequence(t, events, session)
	if len(events) != 7 { // processed 0, five rows, complete
		t.Fatalf("%d events, want 7", len(events))
	}
	if last.Type != typeComplete || last.Processed != 5 || last.Created != 2 || last.Failed != 3 || last.DurationMS == nil {
		t.Fatalf("summary %+v", last)
	}
	wantErrors := map[int]string{
		3: "invalid email address",
		5: "duplicate user: same email as line 2",
		6: "missing first_name",
	}
	if len(last.Errors) != len(wantErrors) {
		t.Fatalf("summary errors %+v", last.Errors)
	}
	for _, e := range last.Errors {
		if wantErrors[e.Line] != e.Error || e.Status != statusFailed {
			t.Errorf("summary error %+v, want %q", e, wantErrors[e.Line])
		}
	}
	if r := events[1].Data.Row; r == nil || r.Line != 2 || r.Email != "ada@example.com" || r.Name != "Ada Lovelace" || r.Status != statusCreated {
		t.Fatalf("first row result %+v", r)
	}
}

func TestSSEStreamResumesAfterLastEventIDAndEndsWith204(t *testing.T) {
	_, ts := newTestServer(t, settings{}, nil)
	created, all := runImport(t, ts, "", "text/csv", smallCSV)
	url := ts.URL + "/api/import/progress/" + created["sessionId"].(string)

	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Last-Event-ID", "4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rest := readStream(t, resp.Body, 5*time.Second)
	resp.Body.Close()
	if len(rest) != len(all)-4 || rest[0].ID != 5 || rest[len(rest)-1].Data.Type != typeComplete {
		t.Fatalf("resumed stream: %d events from id %d", len(rest), rest[0].ID)
	}

	for _, u := range []string{url + "?after=" + fmt.Sprint(len(all)), ts.URL + "/api/import/progress/imp-unknown"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusNoContent
		if strings.HasSuffix(u, "unknown") {
			want = http.StatusNotFound
		}
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
		}
	}
}

func TestFailAfterEndsTheImportWithAnError(t *testing.T) {
	_, ts := newTestServer(t, settings{}, nil)
	created, events := runImport(t, ts, "&fail_after=2", "text/csv", smallCSV)
	last := checkSequence(t, events, created["sessionId"].(string))
	if last.Type != typeError || last.Processed != 2 || last.Total != 5 || !strings.Contains(last.Error, "after 2 rows") {
		t.Fatalf("last event %+v", last)
	}
}

func TestAFullDirectoryIsFatal(t *testing.T) {
	s, ts := newTestServer(t, settings{}, nil)
	s.dir = newDirectory(1)
	created, events := runImport(t, ts, "", "text/csv", smallCSV)
	last := checkSequence(t, events, created["sessionId"].(string))
	// ada is stored, not-an-email fails on its own, grace finds the directory full.
	if last.Type != typeError || last.Processed != 2 || !strings.Contains(last.Error, "line 4: the directory is full") {
		t.Fatalf("last event %+v", last)
	}
}

func TestUsersAlreadyInTheDirectoryFailAsDuplicates(t *testing.T) {
	_, ts := newTestServer(t, settings{}, nil)
	runImport(t, ts, "", "text/csv", smallCSV)
	created, events := runImport(t, ts, "", "text/csv", smallCSV)
	last := checkSequence(t, events, created["sessionId"].(string))
	if last.Created != 0 || last.Failed != 5 {
		t.Fatalf("second import of the same users: %+v", last)
	}
	if r := events[1].Data.Row; r.Error != "duplicate user: already in the directory" {
		t.Fatalf("row %+v", r)
	}
}
