package logfile

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// writeN writes "line i\n" for i in [from, to), at(i).
func writeN(t testing.TB, w *Writer, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := w.WriteLine("stdout", []byte("line "+strconv.Itoa(i)+"\n"), at(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func want(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, "line "+strconv.Itoa(i)+"\n")
	}
	return s
}

func TestTailAcrossFiles(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{MaxSize: 1000, MaxFiles: 5})
	writeN(t, w, 0, 200)
	w.Close()
	all := lines(readAll(t, path, ReadOptions{Tail: All}))
	first, _ := strconv.Atoi(strings.Fields(all[0])[1])
	if !slices.Equal(all, want(first, 200)) {
		t.Fatalf("all: %q", all)
	}
	// Each file holds about 16 entries: these tails start in the live file,
	// in path.1, in path.3, and before the oldest one.
	for _, n := range []int{0, 1, 5, 20, 60, len(all), len(all) + 100} {
		got := lines(readAll(t, path, ReadOptions{Tail: n}))
		if w := all[max(0, len(all)-n):]; !slices.Equal(got, w) && !(len(got) == 0 && len(w) == 0) {
			t.Errorf("tail %d: got %d entries %q, want %d", n, len(got), got, len(w))
		}
	}
}

func TestSinceUntil(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{MaxSize: 2000, MaxFiles: 10})
	writeN(t, w, 0, 200)
	w.Close()
	for _, c := range []struct {
		opts     ReadOptions
		from, to int
	}{
		{ReadOptions{Tail: All, Since: at(150)}, 150, 200},
		{ReadOptions{Tail: All, Since: at(150).Add(-time.Millisecond)}, 150, 200},
		{ReadOptions{Tail: All, Since: at(150).Add(time.Millisecond)}, 151, 200},
		{ReadOptions{Tail: All, Since: at(120), Until: at(130)}, 120, 131},
		{ReadOptions{Tail: All, Since: at(500)}, 0, 0},
		{ReadOptions{Tail: 10, Since: at(150)}, 190, 200},
		{ReadOptions{Tail: 10, Since: at(195)}, 195, 200}, // tail first, then since, as Docker
		{ReadOptions{Tail: All, Until: at(-1)}, 0, 0},
	} {
		got := lines(readAll(t, path, c.opts))
		if w := want(c.from, c.to); !slices.Equal(got, w) {
			t.Errorf("%+v: got %q, want %q", c.opts, got, w)
		}
	}
	// The rotated files before Since are skipped without being read.
	var seen int
	Read(t.Context(), path, ReadOptions{Tail: All, Since: at(199)}, func(Entry) error { seen++; return nil })
	if seen != 1 {
		t.Errorf("since last: %d entries", seen)
	}
}

func TestReadMissingAndCorrupt(t *testing.T) {
	path := logPath(t)
	if got := readAll(t, path, ReadOptions{Tail: All, Follow: true}); len(got) != 0 {
		t.Fatalf("missing log: %v", got)
	}
	os.WriteFile(path, []byte(`{"log":"a\n","stream":"stdout","time":"2026-11-29T10:00:00Z"}
not json
{"log":"no time\n"}
{"log":"bad time\n","time":"yesterday"}

{"log":"b\n","stream":"stderr","time":"2026-11-29T10:00:01Z","attrs":{"tag":"web"}}
`), 0o600)
	es := readAll(t, path, ReadOptions{Tail: All})
	if got := lines(es); !slices.Equal(got, []string{"a\n", "b\n"}) || es[1].Stream != "stderr" {
		t.Fatalf("got %q", got)
	}
	if got := lines(readAll(t, path, ReadOptions{Tail: 1})); !slices.Equal(got, []string{"b\n"}) {
		t.Fatalf("tail 1: %q", got)
	}
}

// follow reads path with Follow in the background.
type follower struct {
	got  chan string
	done chan error
}

func follow(ctx context.Context, path string, opts ReadOptions) *follower {
	f := &follower{got: make(chan string, 1<<20), done: make(chan error, 1)}
	opts.Follow = true
	go func() {
		f.done <- Read(ctx, path, opts, func(e Entry) error {
			f.got <- string(e.Line)
			return nil
		})
		close(f.got)
	}()
	return f
}

func (f *follower) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-f.got:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("follower got nothing")
		return ""
	}
}

func (f *follower) end(t *testing.T) []string {
	t.Helper()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follower did not end")
	}
	var rest []string
	for s := range f.got {
		rest = append(rest, s)
	}
	return rest
}

// Follow gives the old lines, then new ones as they come, and ends when the
// writer closes the log.
func TestFollowEndsOnClose(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{})
	writeN(t, w, 0, 3)
	f := follow(t.Context(), path, ReadOptions{Tail: 2})
	if a, b := f.next(t), f.next(t); a != "line 1\n" || b != "line 2\n" {
		t.Fatalf("got %q %q", a, b)
	}
	writeN(t, w, 3, 4)
	if s := f.next(t); s != "line 3\n" {
		t.Fatalf("got %q", s)
	}
	s := w.Stream("stdout")
	s.Write([]byte("unfinished"))
	time.Sleep(50 * time.Millisecond)
	select {
	case <-f.done:
		t.Fatal("follower ended while the writer was open")
	default:
	}
	w.Close() // flushes "unfinished" and ends the log
	if rest := f.end(t); !slices.Equal(rest, []string{"unfinished"}) {
		t.Fatalf("got %q", rest)
	}
	// A log whose writer is gone reads to its end and returns at once.
	if rest := follow(t.Context(), path, ReadOptions{Tail: All}).end(t); len(rest) != 5 {
		t.Fatalf("got %q", rest)
	}
}

func TestFollowStop(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{})
	defer w.Close()
	ctx, cancel := context.WithCancel(t.Context())
	f := follow(ctx, path, ReadOptions{Tail: All})
	writeN(t, w, 0, 1)
	if s := f.next(t); s != "line 0\n" {
		t.Fatalf("got %q", s)
	}
	cancel()
	if rest := f.end(t); len(rest) != 0 {
		t.Fatalf("got %q", rest)
	}
	// An error from the callback ends the read and comes back as is.
	stop := errors.New("stop")
	if err := Read(t.Context(), path, ReadOptions{Tail: All, Follow: true}, func(Entry) error { return stop }); err != stop {
		t.Fatal(err)
	}
	// Until ends a follow too.
	writeN(t, w, 1, 5)
	f = follow(t.Context(), path, ReadOptions{Tail: All, Until: at(2)})
	if rest := f.end(t); !slices.Equal(rest, want(0, 3)) {
		t.Fatalf("got %q", rest)
	}
}

// A follow with Until ends when the clock passes it, even with nothing new.
func TestFollowUntilNow(t *testing.T) {
	path := logPath(t)
	w := mustOpen(t, path, Options{})
	defer w.Close()
	w.WriteLine("stdout", []byte("now\n"), time.Now())
	f := follow(t.Context(), path, ReadOptions{Tail: All, Until: time.Now().Add(100 * time.Millisecond)})
	if rest := f.end(t); !slices.Equal(rest, []string{"now\n"}) {
		t.Fatalf("got %q", rest)
	}
}

// A follower reads every line exactly once, in order, while a writer that
// runs as fast as it can writes 100,000 of them and rotates ~30 times.
func TestFollowRotation(t *testing.T) {
	testFollowRotation(t, Options{MaxSize: 256 << 10, MaxFiles: 5}, 100_000, 0)
}

// The same with tiny files (max-size 1k, max-file 3: 16 lines a file, ~6000
// rotations): a reader that falls two files behind loses lines (so does
// Docker's), so the writer waits while it is more than 8 lines ahead; the
// two still race on every rotation.
func TestFollowRotationSmallFiles(t *testing.T) {
	testFollowRotation(t, Options{MaxSize: 1000, MaxFiles: 3}, 100_000, 8)
}

// With 20 files a rotation renames 19 while the follower, up to 10 files
// behind, looks for the file after the one it finished: it must find it
// wherever the shift has got to.
func TestFollowRotationManyFiles(t *testing.T) {
	testFollowRotation(t, Options{MaxSize: 1000, MaxFiles: 20}, 50_000, 150)
}

// And with max-file 1, where a rotation replaces the only file.
func TestFollowRotationOneFile(t *testing.T) {
	testFollowRotation(t, Options{MaxSize: 1000, MaxFiles: 1}, 20_000, 4)
}

func testFollowRotation(t *testing.T, opts Options, n int, ahead int64) {
	path := logPath(t)
	w := mustOpen(t, path, opts)
	writeN(t, w, 0, 10)
	var read, written atomic.Int64
	var ended atomic.Bool
	errc := make(chan error, 1)
	next := 0
	go func() {
		defer ended.Store(true)
		errc <- Read(t.Context(), path, ReadOptions{Tail: All, Follow: true}, func(e Entry) error {
			if s := "line " + strconv.Itoa(next) + "\n"; string(e.Line) != s {
				return errors.New("got " + strconv.Quote(string(e.Line)) + ", want " + strconv.Quote(s) +
					" (the writer was at line " + strconv.FormatInt(written.Load(), 10) + ")")
			}
			next++
			read.Add(1)
			return nil
		})
	}()
	for read.Load() < 10 && !ended.Load() {
		time.Sleep(time.Millisecond)
	}
	for i := 10; i < n; i++ {
		for ahead > 0 && int64(i)-read.Load() > ahead && !ended.Load() {
			time.Sleep(10 * time.Microsecond)
		}
		writeN(t, w, i, i+1)
		written.Store(int64(i))
	}
	w.Close()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("follower did not end; read %d of %d", read.Load(), n)
	}
	if next != n {
		t.Fatalf("read %d lines of %d", next, n)
	}
}

// The lock that tells followers a writer is there dies with the writer's
// process: a follower of a monitor killed by SIGKILL ends.
func TestFollowEndsWhenWriterKilled(t *testing.T) {
	path := logPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), "LOGFILE_HELPER_PATH="+path)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
	if on, err := Active(path); !on || err != nil {
		t.Fatalf("Active: %v %v", on, err)
	}
	f := follow(t.Context(), path, ReadOptions{Tail: All})
	if s := f.next(t); s != "from the helper\n" {
		t.Fatalf("got %q", s)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if rest := f.end(t); len(rest) != 0 {
		t.Fatalf("got %q", rest)
	}
	if on, err := Active(path); on || err != nil {
		t.Fatalf("Active after kill: %v %v", on, err)
	}
}

func TestHelperWriter(t *testing.T) {
	path := os.Getenv("LOGFILE_HELPER_PATH")
	if path == "" {
		t.Skip("helper process for TestFollowEndsWhenWriterKilled")
	}
	w := mustOpen(t, path, Options{})
	w.WriteLine("stdout", []byte("from the helper\n"), time.Now())
	os.Stdout.WriteString("ready\n")
	time.Sleep(time.Minute)
}

// TestReadTailIgnoresLinesWrittenMeanwhile: a read that does not follow
// ends where the log ended when it began, so --tail 1 of a busy log gives
// one line, not one plus what came during the read.
func TestReadTailIgnoresLinesWrittenMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Now()
	for _, l := range []string{"a\n", "b\n", "c\n"} {
		if err := w.WriteLine("stdout", []byte(l), now); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err = Read(context.Background(), path, ReadOptions{Tail: 1}, func(e Entry) error {
		got = append(got, string(e.Line))
		// The container goes on writing while the reader reads.
		return w.WriteLine("stdout", []byte("later\n"), now)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "c\n" {
		t.Errorf("tail 1 of a growing log: %q", got)
	}
}
