package webhook

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/progress-relay/progress-relay/internal/event"
)

// maxDepth bounds JSON nesting. gjson's validator recurses once per level, so a megabyte of "["
// would grow a goroutine stack by over 100 MiB; progress payloads are a few levels deep.
const maxDepth = 128

// jsonSpace is the whitespace JSON allows around values.
const jsonSpace = " \t\r\n"

var utf8BOM = []byte("\xef\xbb\xbf")

// parser turns a webhook body into events. Body shapes: one JSON object, a JSON array of objects
// (a batch), or NDJSON (one object per line). The Content-Type is not consulted: the shapes cannot
// be confused, and backends label bodies carelessly.
type parser struct {
	sessionField, typeField, idField string // gjson paths; idField may be empty
	maxEvents                        int
}

// fallbackSession is where an event without a session field gets its session ID.
type fallbackSession struct {
	header string // X-Session-Id
	path   string // {session} in the webhook path
}

// unit is one event's raw object and where it was in the body, for error messages.
type unit struct {
	raw   []byte
	index int // position in a batch; -1 for a single-object body
	line  int // line of an NDJSON body; 0 otherwise
}

// where prefixes an error message with the unit's place in the body. It is built only when an
// event is refused: formatting it for every event cost a quarter of the parse time.
func (u unit) where() string {
	switch {
	case u.index < 0:
		return ""
	case u.line > 0:
		return fmt.Sprintf("event at index %d (line %d): ", u.index, u.line)
	}
	return fmt.Sprintf("event at index %d: ", u.index)
}

// parse returns every event of body, or none and why. A batch is all-or-nothing: the first bad
// element decides the answer.
func (p *parser) parse(body []byte, fb fallbackSession) ([]event.Input, *rejection) {
	body = bytes.Trim(bytes.TrimPrefix(body, utf8BOM), jsonSpace)
	if len(body) == 0 {
		return nil, reject(http.StatusBadRequest, "empty body: expected a JSON object, a JSON array of objects, or NDJSON")
	}
	// Events end up in WebSocket text frames, which browsers drop a connection over if not UTF-8.
	if !utf8.Valid(body) {
		return nil, reject(http.StatusBadRequest, "body is not valid UTF-8")
	}
	units, rej := p.split(body)
	if rej != nil {
		return nil, rej
	}
	in := make([]event.Input, len(units))
	for i, u := range units {
		if rej := p.event(&in[i], u, fb); rej != nil {
			return nil, rej
		}
	}
	return in, nil
}

// split finds the objects of body, which is trimmed and not empty.
func (p *parser) split(body []byte) ([]unit, *rejection) {
	problem := checkJSON(body)
	if problem == "" {
		switch body[0] {
		case '{':
			return []unit{{raw: body, index: -1}}, nil
		case '[':
			return p.splitArray(body)
		}
		return nil, reject(http.StatusBadRequest, "body is a JSON %s: expected a JSON object, a JSON array of objects, or NDJSON", kind(gjson.ParseBytes(body)))
	}
	if body[0] == '{' && bytes.IndexByte(body, '\n') > 0 {
		units, rej := p.splitLines(body)
		if rej != nil && rej.status == http.StatusBadRequest {
			rej.msg = "body is neither JSON nor NDJSON: " + rej.msg
		}
		return units, rej
	}
	return nil, reject(http.StatusBadRequest, "body is not valid JSON: %s", problem)
}

func (p *parser) splitArray(body []byte) ([]unit, *rejection) {
	var units []unit
	var rej *rejection
	gjson.ParseBytes(body).ForEach(func(_, v gjson.Result) bool {
		i := len(units)
		if i == p.maxEvents {
			rej = p.tooMany()
			return false
		}
		if !v.IsObject() {
			rej = reject(http.StatusBadRequest, "event at index %d: is a JSON %s, expected an object", i, kind(v))
			return false
		}
		units = append(units, unit{raw: []byte(v.Raw), index: i})
		return true
	})
	if rej != nil {
		return nil, rej
	}
	if len(units) == 0 {
		return nil, reject(http.StatusBadRequest, "empty batch: the array holds no events")
	}
	return units, nil
}

func (p *parser) splitLines(body []byte) ([]unit, *rejection) {
	var units []unit
	line := 0
	for rest := body; len(rest) > 0; {
		var raw []byte
		raw, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line++
		if raw = bytes.Trim(raw, jsonSpace); len(raw) == 0 {
			continue
		}
		i := len(units)
		if i == p.maxEvents {
			return nil, p.tooMany()
		}
		if problem := checkJSON(raw); problem != "" {
			return nil, reject(http.StatusBadRequest, "line %d: not valid JSON: %s", line, problem)
		}
		if raw[0] != '{' {
			return nil, reject(http.StatusBadRequest, "line %d: is a JSON %s, expected an object", line, kind(gjson.ParseBytes(raw)))
		}
		// Cloned so that an event kept in history does not pin the whole request body.
		units = append(units, unit{raw: bytes.Clone(raw), index: i, line: line})
	}
	return units, nil
}

func (p *parser) tooMany() *rejection {
	return reject(http.StatusRequestEntityTooLarge, "too many events: at most %d per request", p.maxEvents)
}

// event fills in from one object, or says why the object cannot be an event.
func (p *parser) event(in *event.Input, u unit, fb fallbackSession) *rejection {
	session, from, rej := p.session(u, fb)
	if rej != nil {
		return rej
	}
	if err := event.ValidSession(session); err != nil {
		return reject(http.StatusBadRequest, "%ssession ID from %s: %v", u.where(), from.describe(p.sessionField), err)
	}
	in.Session = session
	in.Type = DefaultType
	if t := gjson.GetBytes(u.raw, p.typeField); t.Type == gjson.String && t.Str != "" {
		in.Type = t.Str
	}
	if p.idField != "" {
		in.ID = scalarText(gjson.GetBytes(u.raw, p.idField))
	}
	in.Data = u.raw
	return nil
}

// sessionSource says where an event's session ID came from, for error messages.
type sessionSource int

const (
	fromField sessionSource = iota
	fromHeader
	fromPath
)

func (s sessionSource) describe(field string) string {
	switch s {
	case fromHeader:
		return "header " + SessionHeader
	case fromPath:
		return "the webhook path"
	}
	return fmt.Sprintf("field %q", field)
}

// session finds the event's session ID: its field, else the header, else the path.
func (p *parser) session(u unit, fb fallbackSession) (id string, from sessionSource, rej *rejection) {
	f := gjson.GetBytes(u.raw, p.sessionField)
	switch f.Type {
	case gjson.String, gjson.Number:
		if id = scalarText(f); id != "" {
			return id, fromField, nil
		}
	case gjson.True, gjson.False, gjson.JSON:
		return "", 0, reject(http.StatusBadRequest, "%sfield %q must be a string, not a JSON %s", u.where(), p.sessionField, kind(f))
	}
	if fb.header != "" {
		return fb.header, fromHeader, nil
	}
	if fb.path != "" {
		return fb.path, fromPath, nil
	}
	return "", 0, reject(http.StatusUnprocessableEntity, "%sno session ID: set field %q in the event, the %s header, or use a webhook path with {session}",
		u.where(), p.sessionField, SessionHeader)
}

// scalarText is a string's value or a number's literal text; "" for anything else.
func scalarText(r gjson.Result) string {
	switch r.Type {
	case gjson.String:
		return r.Str
	case gjson.Number:
		return r.Raw
	}
	return ""
}

// kind names a JSON value's type for error messages.
func kind(r gjson.Result) string {
	switch {
	case r.IsObject():
		return "object"
	case r.IsArray():
		return "array"
	case r.IsBool():
		return "boolean"
	}
	return strings.ToLower(r.Type.String())
}

// checkJSON returns "" when b is one valid JSON value no deeper than maxDepth, else the problem.
func checkJSON(b []byte) string {
	if !withinDepth(b, maxDepth) {
		return fmt.Sprintf("nested deeper than %d levels", maxDepth)
	}
	if !gjson.ValidBytes(b) {
		return "syntax error"
	}
	return ""
}

// withinDepth reports whether brackets outside strings nest at most limit deep. It does not
// validate: it only keeps invalid or hostile input away from gjson's recursive validator.
func withinDepth(b []byte, limit int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > limit {
				return false
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return true
}
