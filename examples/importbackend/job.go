package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// maxSummaryErrors bounds the failed rows listed in a complete event.
const maxSummaryErrors = 100

// job is one import: its rows, how to run them, and where its events go.
type job struct {
	session   string
	rows      []record
	problems  []string      // from checkRows, indexed like rows
	pace      time.Duration // pause before each row, to make progress visible
	failAfter int           // > 0: stop with a simulated fatal error after this many rows
	dir       *directory
	out       reporter
	now       func() time.Time

	emittedCount int
}

// run imports the rows in order, reporting progress after each, and ends with complete or, on a
// fatal failure, error. It stops early, silently, when ctx ends (the backend is shutting down).
func (j *job) run(ctx context.Context) {
	defer j.out.finish(j.session)
	started := j.now()
	ev := progressEvent{SessionID: j.session, Total: len(j.rows)}
	j.emit(ev) // processed 0 of total: the front end can draw the bar at once

	var failures []rowResult
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i, r := range j.rows {
		if j.pace > 0 {
			timer.Reset(j.pace)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		} else if ctx.Err() != nil {
			return
		}
		if j.failAfter > 0 && i == j.failAfter {
			ev.Row = nil
			ev.Type = typeError
			ev.Error = fmt.Sprintf("simulated failure: the identity service stopped answering after %d rows", i)
			j.emit(ev)
			return
		}
		res, fatal := j.importRow(i, r)
		if fatal != nil {
			ev.Row = nil
			ev.Type = typeError
			ev.Error = fatal.Error()
			j.emit(ev)
			return
		}
		ev.Processed++
		if res.Status == statusCreated {
			ev.Created++
		} else {
			ev.Failed++
			if len(failures) < maxSummaryErrors {
				failures = append(failures, res)
			}
		}
		ev.Row = &res
		j.emit(ev)
	}
	ev.Row = nil
	ev.Type = typeComplete
	ms := j.now().Sub(started).Milliseconds()
	ev.DurationMS = &ms
	ev.Errors = failures
	j.emit(ev)
}

// importRow validates and stores one row. A row-level problem fails the row; a full directory
// is fatal to the import.
func (j *job) importRow(i int, r record) (rowResult, error) {
	res := rowResult{Line: r.Line, Email: r.Email, Name: fullName(r), Status: statusFailed}
	if p := j.problems[i]; p != "" {
		res.Error = p
		return res, nil
	}
	err := j.dir.add(user{Email: r.Email, FirstName: r.FirstName, LastName: r.LastName, Department: r.Department})
	switch {
	case errors.Is(err, errExists):
		res.Error = "duplicate user: already in the directory"
	case errors.Is(err, errFull):
		return res, fmt.Errorf("line %d: %w; import stopped", r.Line, err)
	case err != nil:
		res.Error = err.Error()
	default:
		res.Status = statusCreated
	}
	return res, nil
}

func (j *job) emit(ev progressEvent) {
	if ev.Type == "" {
		ev.Type = typeProgress
	}
	j.emittedCount++
	j.out.report(encodeEvent(j.emittedCount, ev, j.now()), j.session)
}
