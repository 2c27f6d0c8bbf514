package logfile

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRotation(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{MaxSize: 1000, MaxFiles: 3})
	const n = 500
	for i := 0; i < n; i++ {
		if err := w.WriteLine("stdout", []byte("line "+strconv.Itoa(i)+"\n"), at(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(path)
	if got, want := dirNames(t, filepath.Dir(path)), []string{base, base + ".1", base + ".2"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	// Every file is under the cap and holds whole entries; together they
	// hold the last entries written, in order, with no gap.
	var all []jsonEntry
	for _, name := range []string{path + ".2", path + ".1", path} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1000 || (name != path && fi.Size() < 900) {
			t.Errorf("%s: %d bytes, want 900..1000", name, fi.Size())
		}
		all = append(all, fileEntries(t, name)...)
	}
	first := n - len(all)
	for i, e := range all {
		if want := "line " + strconv.Itoa(first+i) + "\n"; e.Log != want || e.Stream != "stdout" || !e.Time.Equal(at(first+i)) {
			t.Fatalf("entry %d: %+v, want %q", i, e, want)
		}
	}
	got := readAll(t, path, ReadOptions{Tail: All})
	if len(got) != len(all) || string(got[0].Line) != all[0].Log || string(got[len(got)-1].Line) != "line 499\n" {
		t.Fatalf("Read gave %d entries from %q to %q, files hold %d", len(got), got[0].Line, got[len(got)-1].Line, len(all))
	}
}

// With max-file 1 a full file starts afresh (Docker truncates; Hutch swaps in
// a new file so a reader of the old one still finishes it).
func TestRotationOneFile(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{MaxSize: 1000})
	for i := 0; i < 100; i++ {
		w.WriteLine("stderr", []byte("line "+strconv.Itoa(i)+"\n"), at(i))
	}
	w.Close()
	if got := dirNames(t, filepath.Dir(path)); len(got) != 1 {
		t.Fatalf("files %v", got)
	}
	es := fileEntries(t, path)
	if fi, _ := os.Stat(path); fi.Size() > 1000 || es[len(es)-1].Log != "line 99\n" {
		t.Fatalf("%d bytes, last %q", fi.Size(), es[len(es)-1].Log)
	}
}

// A line longer than MaxLine becomes MaxLine-sized partial entries, the last
// one whole, all with the same time, as dockerd writes it.
func TestWriteLineLong(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{})
	long := bytes.Repeat([]byte("abcdefgh"), 5000) // 40000 bytes
	w.WriteLine("stdout", append(slices.Clone(long), '\n'), at(1))
	w.WriteLine("stdout", append(bytes.Repeat([]byte("x"), MaxLine), '\n'), at(2))
	w.WriteLine("stdout", bytes.Repeat([]byte("y"), MaxLine-1), at(3))
	w.WriteLine("stdout", []byte("\n"), at(4))
	w.Close()
	es := readAll(t, path, ReadOptions{Tail: All})
	want := []struct {
		n       int
		partial bool
		t       int
	}{{MaxLine, true, 1}, {MaxLine, true, 1}, {40000 - 2*MaxLine + 1, false, 1}, {MaxLine, true, 2}, {1, false, 2}, {MaxLine - 1, true, 3}, {1, false, 4}}
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d", len(es), len(want))
	}
	for i, wnt := range want {
		if len(es[i].Line) != wnt.n || es[i].Partial != wnt.partial || !es[i].Time.Equal(at(wnt.t)) {
			t.Errorf("entry %d: %d bytes partial %v at %v, want %+v", i, len(es[i].Line), es[i].Partial, es[i].Time, wnt)
		}
	}
	var joined []byte
	for _, e := range es[:3] {
		joined = append(joined, e.Line...)
	}
	if !bytes.Equal(joined, append(long, '\n')) {
		t.Error("pieces do not join into the line")
	}
}

// The stream splitter cuts lines as Docker's copier: at newlines, at MaxLine
// bytes without one, and at Flush/Close; the pieces of one line keep the
// time of the first.
func TestStreamSplit(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{})
	clock := tick
	out := w.Stream("stdout")
	out.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	errs := w.Stream("stderr")
	if w.Stream("stdout") != out {
		t.Fatal("Stream gave two writers for one stream")
	}
	write := func(s *LineWriter, p string) {
		if n, err := s.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatal(n, err)
		}
	}
	write(out, "one\ntw")
	write(out, "o\nthr")
	write(errs, "err\n")
	write(out, "ee\n\nfour")
	out.Flush()
	write(out, " more\n")
	big := strings.Repeat("z", 2*MaxLine+10)
	for i := 0; i < len(big); i += 1000 {
		write(out, big[i:min(i+1000, len(big))])
	}
	write(out, "\nlast without newline")
	w.Close()
	if _, err := out.Write([]byte("x")); err == nil {
		t.Error("write after Close succeeded")
	}
	es := readAll(t, path, ReadOptions{Tail: All})
	type ent struct {
		stream, line string
		sec          int
	}
	want := []ent{{"stdout", "one\n", 1}, {"stdout", "two\n", 2}, {"stderr", "err\n", 0}, {"stdout", "three\n", 3}, {"stdout", "\n", 4},
		{"stdout", "four", 5}, {"stdout", " more\n", 5},
		{"stdout", big[:MaxLine], 6}, {"stdout", big[MaxLine : 2*MaxLine], 6}, {"stdout", "zzzzzzzzzz\n", 6},
		{"stdout", "last without newline", 7}}
	if len(es) != len(want) {
		t.Fatalf("got %q", lines(es))
	}
	for i, wnt := range want {
		e := es[i]
		if e.Stream != wnt.stream || string(e.Line) != wnt.line || (wnt.sec > 0 && !e.Time.Equal(at(wnt.sec))) {
			t.Errorf("entry %d: %s %q %v, want %+v", i, e.Stream, e.Line, e.Time, wnt)
		}
	}
}

// A monitor killed in the middle of a write leaves a cut line: readers skip
// it, and the next writer ends it before appending.
func TestCutLine(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{})
	w.WriteLine("stdout", []byte("before\n"), at(1))
	w.Close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"log":"cut in the mid`)
	f.Close()
	if got := lines(readAll(t, path, ReadOptions{Tail: All})); !slices.Equal(got, []string{"before\n"}) {
		t.Fatalf("got %q", got)
	}
	if got := lines(readAll(t, path, ReadOptions{Tail: 1})); !slices.Equal(got, []string{"before\n"}) {
		t.Fatalf("tail 1: got %q", got)
	}
	w = mustOpen(t, path, Options{})
	w.WriteLine("stdout", []byte("after\n"), at(2))
	w.Close()
	if got := lines(readAll(t, path, ReadOptions{Tail: All})); !slices.Equal(got, []string{"before\n", "after\n"}) {
		t.Fatalf("got %q", got)
	}
}

func TestSecondWriterRefused(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{})
	defer w.Close()
	if w2, err := Open(path, Options{}); err == nil {
		w2.Close()
		t.Fatal("second writer opened the log")
	}
}

func TestWriteLineAllocs(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{MaxSize: 1 << 20, MaxFiles: 2})
	defer w.Close()
	line := []byte("a typical line of output, 60 bytes or so, with a \"quote\"\n")
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() { w.WriteLine("stdout", line, now) }); n != 0 {
		t.Errorf("WriteLine: %v allocations per line", n)
	}
	s := w.Stream("stdout")
	if n := testing.AllocsPerRun(1000, func() { s.Write(line) }); n != 0 {
		t.Errorf("LineWriter.Write: %v allocations per line", n)
	}
}

// Writing 100 MB through the stream splitter, with rotation, allocates a
// constant amount: no per-line garbage, no growing buffer. Then a tail of
// the last lines reads only the end of the log.
func TestWrite100MB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	path := logPath(t)
	w := mustOpen(t, path, Options{MaxSize: 10 << 20, MaxFiles: 3})
	s := w.Stream("stdout")
	chunk := bytes.Repeat([]byte("0123456789 the quick brown fox jumps over the lazy dog\n"), 600) // 33 KB
	chunk = append(chunk, bytes.Repeat([]byte("-"), 20000)...)                                     // a long line, cut
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	written := 0
	for written < 100<<20 {
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
		written += len(chunk)
	}
	w.Close()
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("wrote %d MB of output; allocated %d KB; heap in use %d KB", written>>20, alloc>>10, after.HeapInuse>>10)
	if alloc > 512<<10 {
		t.Errorf("allocated %d KB to write %d MB", alloc>>10, written>>20)
	}
	var total int64
	for _, name := range dirNames(t, filepath.Dir(path)) {
		fi, _ := os.Stat(filepath.Join(filepath.Dir(path), name))
		if fi.Size() > 10<<20 {
			t.Errorf("%s: %d bytes", name, fi.Size())
		}
		total += fi.Size()
	}
	if total > 30<<20 {
		t.Errorf("%d bytes on disk", total)
	}

	runtime.GC()
	runtime.ReadMemStats(&before)
	es := readAll(t, path, ReadOptions{Tail: 1000})
	runtime.ReadMemStats(&after)
	alloc = after.TotalAlloc - before.TotalAlloc
	t.Logf("tail 1000: allocated %d KB", alloc>>10)
	if len(es) != 1000 {
		t.Fatalf("tail gave %d entries", len(es))
	}
	if alloc > 1<<20 {
		t.Errorf("tail of 1000 allocated %d KB", alloc>>10)
	}
	// Reading all of it (30 MB kept) allocates no more than a tail does,
	// besides the entries the test itself keeps: count them instead.
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 0
	if err := Read(t.Context(), path, ReadOptions{Tail: All}, func(Entry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc = after.TotalAlloc - before.TotalAlloc
	t.Logf("read all: %d entries, allocated %d KB", n, alloc>>10)
	if alloc > 1<<20 {
		t.Errorf("reading %d entries allocated %d KB", n, alloc>>10)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions(map[string]string{"max-size": "10m", "max-file": "3", "tag": "x"})
	if err != nil || o != (Options{MaxSize: 10_000_000, MaxFiles: 3}) {
		t.Fatal(o, err)
	}
	if o, err := ParseOptions(map[string]string{"max-file": "3"}); err != nil || o.MaxFiles != 1 {
		t.Fatal(o, err)
	}
	for _, bad := range []map[string]string{{"max-size": "0"}, {"max-size": "-1"}, {"max-size": "1q"}, {"max-file": "0"},
		{"max-file": "x"}, {"compress": "true"}, {"mode": "non-blocking"}} {
		if _, err := ParseOptions(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	for s, want := range map[string]int64{"1024": 1024, "1k": 1000, "1kb": 1000, "1KiB": 1000, "10m": 10e6, "1.5 GB": 1.5e9, "2t": 2e12} {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "k", ".5m", "5.m", "1mm", "1  ", "-1", "1e3"} {
		if got, err := ParseSize(s); err == nil {
			t.Errorf("%q: %d", s, got)
		}
	}
}

// A writer killed between the link and the rename of a rotation leaves path
// and path.1 as one file, and path.tmp: readers see it once, and the next
// Open undoes the half rotation.
func TestHalfRotation(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{MaxSize: 1 << 20, MaxFiles: 3})
	w.WriteLine("stdout", []byte("one\n"), at(1))
	w.Close()
	if err := os.Link(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path+".tmp", nil, 0o640)
	if got := lines(readAll(t, path, ReadOptions{Tail: All})); !slices.Equal(got, []string{"one\n"}) {
		t.Fatalf("got %q", got)
	}
	w = mustOpen(t, path, Options{MaxSize: 1 << 20, MaxFiles: 3})
	w.WriteLine("stdout", []byte("two\n"), at(2))
	w.Close()
	if got := dirNames(t, filepath.Dir(path)); !slices.Equal(got, []string{filepath.Base(path)}) {
		t.Fatalf("files %v", got)
	}
	if got := lines(readAll(t, path, ReadOptions{Tail: All})); !slices.Equal(got, []string{"one\n", "two\n"}) {
		t.Fatalf("got %q", got)
	}
}
