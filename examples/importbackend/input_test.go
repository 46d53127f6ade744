package main

import (
	"errors"
	"strings"
	"testing"
)

func TestCSVColumnsMayComeInAnyOrderAndSpelling(t *testing.T) {
	csv := "\ufeffDepartment, Last Name ,EMAIL,firstName,extra\nSales,Hopper,grace@example.com,Grace,x\n"
	rows, err := readCSV(strings.NewReader(csv), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := record{Line: 2, Email: "grace@example.com", FirstName: "Grace", LastName: "Hopper", Department: "Sales"}
	if len(rows) != 1 || rows[0] != want {
		t.Fatalf("got %+v, want %+v", rows, want)
	}
}

func TestCSVWithoutTheRequiredColumnsIsRefusedWhole(t *testing.T) {
	for name, csv := range map[string]string{
		"no first_name": "email,last_name\na@example.com,B\n",
		"empty":         "",
		"header only":   "email,first_name,last_name\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readCSV(strings.NewReader(csv), 10)
			var ie errInput
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an input error", err)
			}
		})
	}
}

func TestCSVBadLinesFailOnlyThemselves(t *testing.T) {
	csv := "email,first_name,last_name\n" +
		"short@example.com,Only\n" + // a missing cell is a missing field
		"x\"y@example.com,A,B\n" + // a bare quote: unreadable line
		"ok@example.com,Ok,Fine\n"
	rows, err := readCSV(strings.NewReader(csv), 10)
	if err != nil {
		t.Fatal(err)
	}
	problems := checkRows(rows)
	want := []string{"missing last_name", "malformed CSV line: bare \" in non-quoted-field", ""}
	for i := range want {
		if problems[i] != want[i] {
			t.Errorf("line %d: problem %q, want %q", rows[i].Line, problems[i], want[i])
		}
	}
	if rows[1].Line != 3 || rows[2].Line != 4 {
		t.Errorf("lines %d, %d; want 3, 4", rows[1].Line, rows[2].Line)
	}
}

func TestTooManyRowsIsAnError(t *testing.T) {
	csv := "email,first_name,last_name\na@example.com,A,A\nb@example.com,B,B\nc@example.com,C,C\n"
	if _, err := readCSV(strings.NewReader(csv), 2); !errors.Is(err, errTooManyRows) {
		t.Fatalf("CSV: err = %v, want errTooManyRows", err)
	}
	if _, err := readJSON([]byte(`[{},{},{}]`), 2); !errors.Is(err, errTooManyRows) {
		t.Fatalf("JSON: err = %v, want errTooManyRows", err)
	}
}

func TestJSONTakesAListOrAUsersObject(t *testing.T) {
	for _, body := range []string{
		`[{"email":"a@example.com","firstName":"A","last_name":"B","role":"admin"}]`,
		`{"users":[{"email":"a@example.com","first_name":"A","lastName":"B"}]}`,
	} {
		rows, err := readJSON([]byte(body), 10)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		want := record{Line: 1, Email: "a@example.com", FirstName: "A", LastName: "B"}
		if len(rows) != 1 || rows[0] != want {
			t.Fatalf("%s: got %+v", body, rows)
		}
	}
}

func TestJSONBadElementsFailOnlyThemselves(t *testing.T) {
	rows, err := readJSON([]byte(`[42, {"email": 7, "first_name": "A", "last_name": null}, {"email":"ok@example.com","first_name":"O","last_name":"K"}]`), 10)
	if err != nil {
		t.Fatal(err)
	}
	problems := checkRows(rows)
	want := []string{"not a JSON object", "email must be a string", ""}
	for i := range want {
		if problems[i] != want[i] {
			t.Errorf("element %d: problem %q, want %q", i+1, problems[i], want[i])
		}
	}
}

func TestJSONThatIsNotAListIsRefusedWhole(t *testing.T) {
	for _, body := range []string{`"users"`, `{"users": 3}`, `[`, `[]`} {
		var ie errInput
		if _, err := readJSON([]byte(body), 10); !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want an input error", body, err)
		}
	}
}
