// Command chart turns relaybench's JSON-lines records into the benchmark report: a Markdown file
// with the machine, the date, the commands and one table per scenario (relay against the Node.js
// peer, with ratios and the targets), and an SVG chart, drawn here without dependencies.
//
//	go run ./bench/cmd/chart -in bench/results/raw.jsonl -out bench/results -cmd "bench/run.sh short"
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/progress-relay/progress-relay/bench/internal/scenario"
)

func main() {
	in := flag.String("in", "bench/results/raw.jsonl", "relaybench records")
	out := flag.String("out", "bench/results", "directory for results.md and chart.svg")
	cmd := flag.String("cmd", "", "the command that produced the records, for the report")
	flag.Parse()
	if err := run(*in, *out, *cmd); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(in, out, cmd string) error {
	recs, err := load(in)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("%s holds no records", in)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "chart.svg"), chart(recs), 0o644); err != nil {
		return err
	}
	md := report(recs, machine(), cmd)
	return os.WriteFile(filepath.Join(out, "results.md"), []byte(md), 0o644)
}

func load(path string) ([]*scenario.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []*scenario.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		r := new(scenario.Record)
		if err := json.Unmarshal(sc.Bytes(), r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}
