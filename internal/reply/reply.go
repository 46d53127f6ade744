// Package reply writes the relay's JSON answers, so that every endpoint says what went wrong the
// same way: a status and a body {"error": "..."}.
package reply

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// JSON writes v as the body with status.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the relay's own values reach here; a failure is a bug worth a clear 500.
		b = []byte(`{"error":"internal error encoding the answer"}`)
		status = http.StatusInternalServerError
	}
	Raw(w, status, b)
}

// Raw writes an already encoded JSON body with status.
func Raw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
	w.Write([]byte{'\n'})
}

// Error writes {"error": msg} with status.
func Error(w http.ResponseWriter, status int, msg string) {
	JSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// RetryAfter writes {"error": msg} with status and a Retry-After header in seconds.
func RetryAfter(w http.ResponseWriter, status int, seconds int, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	Error(w, status, msg)
}
