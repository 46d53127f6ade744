package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// record is one user as read from the upload, before validation.
type record struct {
	Line       int // CSV line (the header is line 1), or position in a JSON list from 1
	Email      string
	FirstName  string
	LastName   string
	Department string
	// Problem is set when the row could not even be read (a malformed CSV line, a JSON value that
	// is not an object); such a row is reported as failed with this reason.
	Problem string
}

// errInput is an upload that cannot be imported at all; it is answered 400 before any import starts.
type errInput struct{ msg string }

func (e errInput) Error() string { return e.msg }

func inputErrorf(format string, args ...any) error { return errInput{fmt.Sprintf(format, args...)} }

// errTooManyRows is answered 413.
var errTooManyRows = errors.New("too many rows")

// column names a field of record, by its normalised header name.
var columns = map[string]func(*record) *string{
	"email":      func(r *record) *string { return &r.Email },
	"firstname":  func(r *record) *string { return &r.FirstName },
	"lastname":   func(r *record) *string { return &r.LastName },
	"department": func(r *record) *string { return &r.Department },
}

// requiredColumns maps each required column's normalised name to how it is spelled in messages.
var requiredColumns = []struct{ key, name string }{
	{"email", "email"}, {"firstname", "first_name"}, {"lastname", "last_name"},
}

// normalise makes "First Name", "first_name" and "firstName" the same column.
func normalise(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	return strings.NewReplacer(" ", "", "_", "", "-", "").Replace(name)
}

// readCSV reads users from CSV with a header row naming at least email, first_name and last_name
// (any order, any case; unknown columns are ignored). A line that cannot be parsed becomes a
// failed row; the import goes on.
func readCSV(r io.Reader, maxRows int) ([]record, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // short and long rows are read; missing cells are missing fields
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = false

	header, err := cr.Read()
	if err == io.EOF {
		return nil, inputErrorf("the CSV is empty: want a header row with email, first_name, last_name")
	}
	if err != nil {
		return nil, inputErrorf("the CSV header cannot be read: %v", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a byte order mark from spreadsheet exports
	}
	index := map[string]int{}
	for i, h := range header {
		if _, known := columns[normalise(h)]; known {
			if _, dup := index[normalise(h)]; !dup {
				index[normalise(h)] = i
			}
		}
	}
	var missing []string
	for _, c := range requiredColumns {
		if _, ok := index[c.key]; !ok {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return nil, inputErrorf("the CSV header %q lacks the column(s) %s: want email, first_name, last_name",
			strings.Join(header, ","), strings.Join(missing, ", "))
	}

	var out []record
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		if len(out) == maxRows {
			return nil, fmt.Errorf("%w: at most %d rows per import", errTooManyRows, maxRows)
		}
		var pe *csv.ParseError
		if err != nil && !(errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount)) {
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("read the CSV: %w", err) // the body itself failed
			}
			out = append(out, record{Line: pe.StartLine, Problem: "malformed CSV line: " + errorText(err)})
			continue
		}
		line, _ := cr.FieldPos(0)
		rec := record{Line: line}
		for name, i := range index {
			if i < len(fields) {
				*columns[name](&rec) = strings.TrimSpace(fields[i])
			}
		}
		out = append(out, rec)
	}
	if len(out) == 0 {
		return nil, inputErrorf("the CSV has a header but no rows")
	}
	return out, nil
}

// errorText is a csv error without the "record on line N" prefix, which the row already shows.
func errorText(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// readJSON reads users from a JSON list of objects, or from {"users": [...]}, with the same
// field names as the CSV columns (email, first_name or firstName, last_name or lastName,
// department). An element that is not an object, or a field that is not a string, fails that row.
func readJSON(body []byte, maxRows int) ([]record, error) {
	body = bytes.TrimSpace(body)
	var items []json.RawMessage
	if len(body) > 0 && body[0] == '{' {
		var wrapper struct {
			Users []json.RawMessage `json:"users"`
		}
		if err := json.Unmarshal(body, &wrapper); err != nil {
			return nil, inputErrorf("the JSON body is not a list of users or {\"users\": [...]}: %v", err)
		}
		items = wrapper.Users
	} else if err := json.Unmarshal(body, &items); err != nil {
		return nil, inputErrorf("the JSON body is not a list of users or {\"users\": [...]}: %v", err)
	}
	if len(items) == 0 {
		return nil, inputErrorf("the JSON list of users is empty")
	}
	if len(items) > maxRows {
		return nil, fmt.Errorf("%w: at most %d rows per import", errTooManyRows, maxRows)
	}
	out := make([]record, 0, len(items))
	for i, raw := range items {
		out = append(out, jsonRecord(i+1, raw))
	}
	return out, nil
}

func jsonRecord(line int, raw json.RawMessage) record {
	rec := record{Line: line}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		rec.Problem = "not a JSON object"
		return rec
	}
	var problems []string
	for key, value := range obj {
		field, known := columns[normalise(key)]
		if !known {
			continue
		}
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			if !bytes.Equal(bytes.TrimSpace(value), []byte("null")) {
				problems = append(problems, key+" must be a string")
			}
			continue
		}
		*field(&rec) = strings.TrimSpace(s)
	}
	if len(problems) > 0 {
		rec.Problem = strings.Join(problems, "; ")
	}
	return rec
}
