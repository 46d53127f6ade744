package main

import (
	"net/mail"
	"strconv"
	"strings"
)

// rowResult is what the import reports for one row.
type rowResult struct {
	Line   int    `json:"line"`
	Email  string `json:"email,omitempty"`
	Name   string `json:"name,omitempty"`
	Status string `json:"status"` // "created" or "failed"
	Error  string `json:"error,omitempty"`
}

// Row statuses.
const (
	statusCreated = "created"
	statusFailed  = "failed"
)

// checkRows finds the problems a row has on its own or against earlier rows of the same upload:
// unreadable rows, missing fields, malformed emails, and emails that appear twice. The result is
// indexed like rows; "" means the row may be imported. Users already in the directory are found
// when the row is imported, since the directory changes while imports run.
func checkRows(rows []record) []string {
	problems := make([]string, len(rows))
	firstLine := map[string]int{}
	for i, r := range rows {
		if r.Problem != "" {
			problems[i] = r.Problem
			continue
		}
		var p []string
		for _, f := range []struct{ name, value string }{
			{"email", r.Email}, {"first_name", r.FirstName}, {"last_name", r.LastName},
		} {
			if f.value == "" {
				p = append(p, "missing "+f.name)
			}
		}
		if r.Email != "" && !validEmail(r.Email) {
			p = append(p, "invalid email address")
		}
		if len(p) == 0 {
			key := strings.ToLower(r.Email)
			if line, seen := firstLine[key]; seen {
				p = append(p, "duplicate user: same email as line "+strconv.Itoa(line))
			} else {
				firstLine[key] = r.Line
			}
		}
		problems[i] = strings.Join(p, "; ")
	}
	return problems
}

// validEmail accepts a bare address (no display name) with a dotted domain.
func validEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \t<>") {
		return false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

func fullName(r record) string {
	return strings.TrimSpace(r.FirstName + " " + r.LastName)
}
