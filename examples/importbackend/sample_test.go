package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/users.csv from writeSample")

const samplePath = "testdata/users.csv"

// sampleFaults are the deliberately bad rows of the sample, by data row number (from 1; the CSV
// line is one more), with what checkRows must say about them.
var sampleFaults = map[int]string{
	17:  "invalid email address",
	42:  "duplicate user: same email as line 4",
	77:  "missing first_name",
	103: "missing email",
	150: "invalid email address",
	188: "missing last_name",
	222: "duplicate user: same email as line 101",
	260: "invalid email address",
	275: "malformed CSV line",
}

const sampleRows = 300

// writeSample builds the sample CSV: deterministic, sampleRows users, with sampleFaults.
func writeSample() []byte {
	first := []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret",
		"Dennis", "Radia", "Tim", "Katherine", "John", "Hedy", "Linus", "Sophie", "Niklaus", "Shafi", "Leslie"}
	last := []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
		"Hamilton", "Ritchie", "Perlman", "Berners-Lee", "Johnson", "McCarthy", "Lamarr", "Torvalds",
		"Wilson", "Wirth", "Goldwasser", "Lamport", "García", "O'Neil"}
	depts := []string{"Engineering", "Sales", "Support", "Finance", "Marketing", "People", ""}
	var b bytes.Buffer
	b.WriteString("email,first_name,last_name,department\n")
	emails := make([]string, sampleRows+1)
	for i := 1; i <= sampleRows; i++ {
		f, l, d := first[i%len(first)], last[(i*7)%len(last)], depts[(i*3)%len(depts)]
		local := strings.ToLower(strings.NewReplacer("'", "", "í", "i").Replace(f + "." + l))
		email := fmt.Sprintf("%s.%d@example.com", local, i)
		switch i {
		case 17:
			email = strings.Replace(email, "@", ".at.", 1)
		case 42:
			email = strings.ToUpper(emails[3])
		case 77:
			f = ""
		case 103:
			email = ""
		case 150:
			email = strings.Replace(email, "@", "@@", 1)
		case 188:
			l = ""
		case 222:
			email = emails[100]
		case 260:
			email = strings.TrimSuffix(email, ".com")
		case 275:
			email = `bare"quote` + email
		}
		emails[i] = email
		if strings.ContainsAny(l, `,"`) {
			l = `"` + strings.ReplaceAll(l, `"`, `""`) + `"`
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", email, f, l, d)
	}
	return b.Bytes()
}

func TestSampleCSVIsGeneratedAndHasTheIntendedFaults(t *testing.T) {
	want := writeSample()
	if *update {
		if err := os.WriteFile(samplePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatalf("%v (run: go test ./examples/importbackend -run TestSample -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from writeSample; regenerate it with: go test ./examples/importbackend -run TestSample -update", samplePath)
	}

	rows, err := readCSV(bytes.NewReader(got), 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != sampleRows {
		t.Fatalf("read %d rows, want %d", len(rows), sampleRows)
	}
	problems := checkRows(rows)
	for i, p := range problems {
		n := i + 1
		want, bad := sampleFaults[n]
		switch {
		case bad && !strings.HasPrefix(p, want):
			t.Errorf("row %d (line %d): problem %q, want it to start with %q", n, rows[i].Line, p, want)
		case !bad && p != "":
			t.Errorf("row %d (line %d): unexpected problem %q", n, rows[i].Line, p)
		}
		if rows[i].Line != n+1 {
			t.Errorf("row %d is reported as line %d, want %d", n, rows[i].Line, n+1)
		}
	}
}
