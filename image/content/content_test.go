package content

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"hutch.dev/hutch/errdefs"
)

func TestWriteVerifyWalkDelete(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello, blob")
	d := digest.FromBytes(data)
	got, err := s.WriteBlob(context.Background(), bytes.NewReader(data), d, int64(len(data)))
	if err != nil || got != d {
		t.Fatalf("WriteBlob = %s, %v", got, err)
	}
	if b, err := s.Get(d); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("Get = %q, %v", b, err)
	}
	if i, err := s.Info(d); err != nil || i.Size != int64(len(data)) {
		t.Fatalf("Info = %+v, %v", i, err)
	}
	if err := s.Verify(d); err != nil {
		t.Fatal(err)
	}
	var seen []digest.Digest
	s.Walk(func(i Info) error { seen = append(seen, i.Digest); return nil })
	if len(seen) != 1 || seen[0] != d {
		t.Fatalf("Walk saw %v", seen)
	}
	if err := s.Delete(d); err != nil || s.Has(d) {
		t.Fatalf("Delete: %v, still there: %v", err, s.Has(d))
	}
	if _, err := s.Get(d); !errdefs.IsNotFound(err) {
		t.Fatalf("Get after delete: %v", err)
	}
}

func TestMismatchNeverStored(t *testing.T) {
	s, _ := New(t.TempDir())
	want := digest.FromString("something else")
	_, err := s.WriteBlob(context.Background(), strings.NewReader("evil"), want, 4)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("WriteBlob of wrong content: %v", err)
	}
	if s.Has(want) {
		t.Fatal("a blob that does not match its digest was stored")
	}
	// Nothing is left in the ingest area either.
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(ents) != 0 {
		t.Fatalf("ingest left: %v", ents)
	}
	// A wrong size is refused too.
	data := []byte("0123456789")
	if _, err := s.WriteBlob(context.Background(), bytes.NewReader(data), digest.FromBytes(data), 9); err == nil {
		t.Fatal("a blob longer than its size was stored")
	}
}

func TestResume(t *testing.T) {
	s, _ := New(t.TempDir())
	data := bytes.Repeat([]byte("abcdefgh"), 1000)
	d := digest.FromBytes(data)
	w, err := s.Writer(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:3000])
	w.Close() // interrupted: the partial data stays
	w, err = s.Writer(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 3000 {
		t.Fatalf("resumed at %d, want 3000", w.Offset())
	}
	w.Write(data[3000:])
	if got, err := w.Commit(); err != nil || got != d {
		t.Fatalf("Commit = %s, %v", got, err)
	}
	w.Close()
	if err := s.Verify(d); err != nil {
		t.Fatal(err)
	}
	// A corrupt partial (wrong bytes) fails at commit and is discarded, so
	// the next try starts clean.
	data2 := []byte("the right content")
	d2 := digest.FromBytes(data2)
	w, _ = s.Writer(d2, int64(len(data2)))
	w.Write([]byte("the WRONG"))
	w.Close()
	w, _ = s.Writer(d2, int64(len(data2)))
	w.Write(data2[w.Offset():])
	if _, err := w.Commit(); err == nil {
		t.Fatal("commit of corrupt resumed data succeeded")
	}
	w.Close()
	w, _ = s.Writer(d2, int64(len(data2)))
	if w.Offset() != 0 {
		t.Fatalf("corrupt partial kept: offset %d", w.Offset())
	}
	w.Close()
}

func TestConcurrentWritersOfOneBlob(t *testing.T) {
	s, _ := New(t.TempDir())
	data := bytes.Repeat([]byte("x"), 1<<20)
	d := digest.FromBytes(data)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := s.WriteBlob(context.Background(), bytes.NewReader(data), d, int64(len(data)))
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Verify(d); err != nil {
		t.Fatal(err)
	}
}

func TestPrune(t *testing.T) {
	s, _ := New(t.TempDir())
	d := digest.FromString("partial")
	w, _ := s.Writer(d, 7)
	w.Write([]byte("par"))
	w.Close()
	if n, _ := s.Prune(time.Hour); n != 0 {
		t.Fatalf("a fresh ingest was pruned")
	}
	if n, _ := s.Prune(0); n != 1 {
		t.Fatalf("Prune(0) removed %d, want 1", n)
	}
}
