package logfile

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func logPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "ctr-json.log")
}

func mustOpen(t testing.TB, path string, opts Options) *Writer {
	t.Helper()
	w, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// readAll returns the entries Read gives, with their Lines copied.
func readAll(t testing.TB, path string, opts ReadOptions) []Entry {
	t.Helper()
	var got []Entry
	err := Read(context.Background(), path, opts, func(e Entry) error {
		e.Line = slices.Clone(e.Line)
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func lines(es []Entry) []string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = string(e.Line)
	}
	return s
}

// fileEntries decodes a file with encoding/json, as a Docker tool would.
func fileEntries(t testing.TB, name string) []jsonEntry {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var es []jsonEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e jsonEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v: %q", name, err, sc.Text())
		}
		es = append(es, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return es
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

var tick = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// at gives the i-th test timestamp: one second apart.
func at(i int) time.Time { return tick.Add(time.Duration(i) * time.Second) }
