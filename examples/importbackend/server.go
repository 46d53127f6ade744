package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// settings are the backend's knobs; main fills them from flags.
type settings struct {
	Pace      time.Duration // default pause before each row
	FailAfter int           // default simulated fatal failure after this many rows; 0: none
	MaxRows   int           // rows per import
	MaxBody   int64         // bytes per upload
	Keep      time.Duration // how long an import that was never started stays startable
}

// Request limits of the per-import overrides.
const (
	maxPace = 5 * time.Second
)

// server is the import API:
//
//	POST /api/import                      CSV (text/csv or multipart field "file") or JSON list of users
//	     ?start=deferred                  wait for POST /api/import/{session}/start before importing
//	     ?pace=<ms>  ?fail_after=<rows>   per-import overrides of the flags
//	POST /api/import/{session}/start      start a deferred import
//	GET  /api/import/progress/{session}   SSE progress (only when reporting by SSE)
type server struct {
	cfg  settings
	dir  *directory
	out  reporter
	feed *sseFeed // nil when progress goes out by webhook
	log  *slog.Logger
	ctx  context.Context // ends at shutdown: running imports stop
	now  func() time.Time
	// mintToken, when set, makes a subscriber token for a new session, returned to the page
	// that starts the import so that it may watch its progress on a relay that requires tokens.
	mintToken func(session string) (string, error)

	mu      sync.Mutex // guards waiting
	waiting map[string]*job
	running sync.WaitGroup
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/import", s.createImport)
	mux.HandleFunc("POST /api/import/{session}/start", s.startImport)
	mux.HandleFunc("GET /api/import/progress/{session}", s.progress)
	return mux
}

// createdImport is the answer to POST /api/import.
type createdImport struct {
	SessionID string `json:"sessionId"`
	Token     string `json:"token,omitempty"`
	Total     int    `json:"total"`
	// Start is where to POST to begin a deferred import; absent when it has already begun.
	Start string `json:"start,omitempty"`
	// Progress is where this backend streams progress, when it reports by SSE.
	Progress string `json:"progress,omitempty"`
}

func (s *server) createImport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pace, failAfter, deferred, err := s.options(q.Get("pace"), q.Get("fail_after"), q.Get("start"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rows, err := s.readUpload(w, r)
	var inputErr errInput
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &inputErr):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, errTooManyRows):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is larger than %d bytes", tooBig.Limit))
		return
	case errors.Is(err, errUnsupportedType):
		writeError(w, http.StatusUnsupportedMediaType, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading the upload: "+err.Error())
		return
	}

	session := newSessionID()
	answer := createdImport{SessionID: session, Total: len(rows)}
	if s.mintToken != nil {
		if answer.Token, err = s.mintToken(session); err != nil {
			s.log.Error("minting a subscriber token", "session", session, "err", err)
			writeError(w, http.StatusInternalServerError, "could not mint a subscriber token")
			return
		}
	}
	if s.feed != nil {
		answer.Progress = "/api/import/progress/" + session
	}
	j := &job{
		session: session, rows: rows, problems: checkRows(rows), pace: pace, failAfter: failAfter,
		dir: s.dir, out: s.out, now: s.now,
	}
	s.out.open(session)
	if deferred {
		answer.Start = "/api/import/" + session + "/start"
		s.mu.Lock()
		s.waiting[session] = j
		s.mu.Unlock()
		time.AfterFunc(s.cfg.Keep, func() { s.abandon(session) })
	} else {
		s.launch(j)
	}
	s.log.Info("import created", "session", session, "rows", len(rows), "deferred", deferred)
	writeJSON(w, http.StatusAccepted, answer)
}

// options reads the per-import overrides.
func (s *server) options(paceText, failText, start string) (time.Duration, int, bool, error) {
	pace, failAfter := s.cfg.Pace, s.cfg.FailAfter
	if paceText != "" {
		ms, err := strconv.Atoi(paceText)
		if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > maxPace {
			return 0, 0, false, fmt.Errorf("pace must be milliseconds between 0 and %d", maxPace.Milliseconds())
		}
		pace = time.Duration(ms) * time.Millisecond
	}
	if failText != "" {
		n, err := strconv.Atoi(failText)
		if err != nil || n < 0 {
			return 0, 0, false, errors.New("fail_after must be a number of rows")
		}
		failAfter = n
	}
	switch start {
	case "", "now":
		return pace, failAfter, false, nil
	case "deferred":
		return pace, failAfter, true, nil
	}
	return 0, 0, false, errors.New(`start must be "now" or "deferred"`)
}

var errUnsupportedType = errors.New("send the users as text/csv, multipart/form-data (field \"file\") or application/json")

// readUpload reads the rows from the body, whatever form they come in.
func (s *server) readUpload(w http.ResponseWriter, r *http.Request) ([]record, error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	mediaType := "text/csv"
	if ct := r.Header.Get("Content-Type"); ct != "" {
		var err error
		if mediaType, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, errUnsupportedType
		}
	}
	switch mediaType {
	case "application/json":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		return readJSON(body, s.cfg.MaxRows)
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, err
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil, inputErrorf(`the form has no "file" field with the CSV`)
			}
			if err != nil {
				return nil, err
			}
			if part.FormName() == "file" {
				return readCSV(part, s.cfg.MaxRows)
			}
		}
	case "text/csv", "text/plain", "application/csv", "application/octet-stream":
		return readCSV(r.Body, s.cfg.MaxRows)
	}
	return nil, errUnsupportedType
}

func (s *server) startImport(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("session")
	s.mu.Lock()
	j, ok := s.waiting[session]
	delete(s.waiting, session)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "no deferred import "+strconv.Quote(session)+" waits to start (unknown, expired, or already started)")
		return
	}
	s.launch(j)
	writeJSON(w, http.StatusAccepted, map[string]any{"sessionId": session, "started": true})
}

// abandonAll ends every deferred import that has not started, at shutdown.
func (s *server) abandonAll() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.waiting))
	for id := range s.waiting {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.abandon(id)
	}
}

// abandon ends a deferred import that nobody started in time.
func (s *server) abandon(session string) {
	s.mu.Lock()
	_, ok := s.waiting[session]
	delete(s.waiting, session)
	s.mu.Unlock()
	if ok {
		s.out.finish(session)
	}
}

func (s *server) launch(j *job) {
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		j.run(s.ctx)
	}()
}

func (s *server) progress(w http.ResponseWriter, r *http.Request) {
	if s.feed == nil {
		writeError(w, http.StatusNotFound, "this backend reports progress by webhook to the relay; subscribe there")
		return
	}
	s.feed.serve(w, r, r.PathValue("session"))
}

// newSessionID makes an ID the relay accepts: [A-Za-z0-9._:-]{1,128}.
func newSessionID() string {
	b := make([]byte, 8)
	rand.Read(b) // crypto/rand.Read never fails
	return "imp-" + hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
