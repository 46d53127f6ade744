package main

import (
	"errors"
	"strings"
	"sync"
)

// user is an imported user.
type user struct {
	Email      string
	FirstName  string
	LastName   string
	Department string
}

// Errors of directory.add.
var (
	errExists = errors.New("user already exists")
	errFull   = errors.New("the directory is full")
)

// directory is the in-memory user store that imports write to, shared by all imports.
type directory struct {
	capacity int

	mu    sync.Mutex // guards users
	users map[string]user
}

func newDirectory(capacity int) *directory {
	return &directory{capacity: capacity, users: map[string]user{}}
}

// add stores u under its email, case-insensitively. errFull is fatal to an import: nothing more
// can be added. errExists fails the row.
func (d *directory) add(u user) error {
	key := strings.ToLower(u.Email)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.users[key]; ok {
		return errExists
	}
	if len(d.users) >= d.capacity {
		return errFull
	}
	d.users[key] = u
	return nil
}

func (d *directory) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.users)
}
