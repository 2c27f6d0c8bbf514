package netns

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// testDir returns a directory for namespaces that this test alone uses, and
// undoes the self bind mount New makes of it.
func testDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() {
		for unix.Unmount(dir, unix.MNT_DETACH) == nil {
		}
	})
	return dir
}

func nsIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// threadsInHostNetns waits until every thread of this process is in the
// host's namespace: a thread that entered another one must have died.
func threadsInHostNetns(t *testing.T, host uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		bad := ""
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		for _, p := range tasks {
			var st unix.Stat_t
			if unix.Stat(p, &st) == nil && st.Ino != host {
				bad = p
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			st, _ := os.ReadFile(filepath.Dir(filepath.Dir(bad)) + "/stat")
			t.Fatalf("%s is still in another network namespace: %s", bad, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewDoRemove(t *testing.T) {
	requireRoot(t)
	host := nsIno(t, "/proc/self/ns/net")
	path := filepath.Join(testDir(t), "t-"+filepath.Base(t.TempDir()))
	if err := New(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(path) })

	if !IsNetns(path) {
		t.Fatalf("%s is not a network namespace", path)
	}
	if nsIno(t, path) == host {
		t.Fatal("the new namespace is the host's")
	}
	if err := New(path); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("New over an existing namespace: got %v, want already exists", err)
	}

	err := Do(path, func() error {
		if got := nsIno(t, "/proc/thread-self/ns/net"); got != nsIno(t, path) {
			t.Errorf("Do runs in namespace %d, want %d", got, nsIno(t, path))
		}
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
			t.Errorf("interfaces in a new namespace: %+v, want only lo, up", ifs)
		}
		// lo is up: a listener on 127.0.0.1 answers.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	threadsInHostNetns(t, host)

	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s still exists after Remove: %v", path, err)
	}
	if err := Remove(path); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestDoReturnsError(t *testing.T) {
	requireRoot(t)
	path := filepath.Join(testDir(t), "t-"+filepath.Base(t.TempDir()))
	if err := New(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(path) })
	want := os.ErrDeadlineExceeded
	if err := Do(path, func() error { return want }); err != want {
		t.Fatalf("Do: got %v, want %v", err, want)
	}
	if err := Do(filepath.Join(filepath.Dir(path), "missing"), func() error { return nil }); err == nil {
		t.Fatal("Do on a missing path: no error")
	}
}

func TestParentDirIsShared(t *testing.T) {
	requireRoot(t)
	dir := testDir(t)
	path := filepath.Join(dir, "t-"+filepath.Base(t.TempDir()))
	if err := New(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(path) })
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range splitLines(string(info)) {
		f := fields(line)
		if len(f) > 6 && f[4] == dir {
			found = true
			if !hasPrefixField(f[6:], "shared:") {
				t.Errorf("%s is not shared: %s", dir, line)
			}
		}
	}
	if !found {
		t.Errorf("%s is not a mount point", dir)
	}
}

func TestManyParallel(t *testing.T) {
	requireRoot(t)
	host := nsIno(t, "/proc/self/ns/net")
	dir := testDir(t)
	suffix := filepath.Base(t.TempDir())
	errc := make(chan error, 20)
	for i := range 20 {
		go func() {
			p := filepath.Join(dir, suffix+"-"+string(rune('a'+i)))
			t.Cleanup(func() { Remove(p) })
			if err := New(p); err != nil {
				errc <- err
				return
			}
			errc <- Do(p, func() error { return nil })
		}()
	}
	for range 20 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	threadsInHostNetns(t, host)
}
