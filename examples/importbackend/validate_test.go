package main

import "testing"

func TestValidEmail(t *testing.T) {
	for email, want := range map[string]bool{
		"grace@example.com":            true,
		"grace.hopper+navy@mail.co.uk": true,
		"grace at example.com":         false,
		"grace@@example.com":           false,
		"grace@example":                false,
		"@example.com":                 false,
		"Grace <grace@example.com>":    false,
		"grace@example.com.":           false,
		"grace@.example.com":           false,
	} {
		if got := validEmail(email); got != want {
			t.Errorf("validEmail(%q) = %v, want %v", email, got, want)
		}
	}
}

func TestCheckRowsReportsEveryProblemOfARow(t *testing.T) {
	rows := []record{
		{Line: 2, Email: "a@example.com", FirstName: "A", LastName: "A"},
		{Line: 3, Email: "bad", LastName: "B"},
		{Line: 4, Email: "A@Example.com", FirstName: "C", LastName: "C"},
		{Line: 5},
	}
	want := []string{
		"",
		"missing first_name; invalid email address",
		"duplicate user: same email as line 2",
		"missing email; missing first_name; missing last_name",
	}
	got := checkRows(rows)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %q, want %q", rows[i].Line, got[i], want[i])
		}
	}
}
