package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/internal/testbundle"
)

// fdScript lists the fds of the container's shell (not of ls, which opens
// the directory it lists) and where its cwd is. Simple commands only: for
// a pipeline or a redirection the shell itself opens fds for a while.
const fdScript = `ls /proc/$$/fd; echo --; readlink /proc/self/cwd; pwd`

// parseFdScript returns the fd list (space-separated) and the rest.
func parseFdScript(out string) (fds, rest string) {
	before, after, _ := strings.Cut(out, "--\n")
	return strings.Join(strings.Fields(before), " "), after
}

// TestSecurityNoLeakedFds (CVE-2024-21626): the container's process has
// only 0, 1 and 2 open (plus 3.. with --preserve-fds), and its cwd is
// inside the rootfs.
func TestSecurityNoLeakedFds(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, fdScript)
	res := r.runContainer(b, newID(t))
	if fds, rest := parseFdScript(res.Stdout); fds != "0 1 2" || rest != "/\n/\n" {
		t.Errorf("fds and cwd in the container: %v\nwant fds 0 1 2 and cwd /", res)
	}

	// The same through create/start.
	id := newID(t)
	r.create(b, id)
	r.ok("start", id)
	r.waitStatus(id, "stopped")
	if out, errOut := r.containerOutput(id); !strings.HasPrefix(out, "0\n1\n2\n--\n/\n/\n") {
		t.Errorf("fds after create/start: %q\n%s", out, errOut)
	}

	// And for exec.
	id2, _ := execTarget(t, r)
	out := r.ok("exec", id2, "sh", "-c", fdScript)
	if fds, rest := parseFdScript(out); fds != "0 1 2" || rest != "/\n/\n" {
		t.Errorf("fds and cwd in exec: %q", out)
	}
}

func TestSecurityPreserveFds(t *testing.T) {
	r := newRuntime(t)
	dir := t.TempDir()
	var extra []*os.File
	for i := 0; i < 2; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("extra%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		extra = append(extra, f)
	}
	b := shBundle(t, fdScript+"; echo to-fd-3 >&3; echo to-fd-4 >&4")
	id := newID(t)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := r.command(ctx, "run", "--preserve-fds", "2", "--bundle", b.Dir, id)
	cmd.ExtraFiles = extra
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run --preserve-fds 2: %v\n%s", err, stderr.String())
	}
	if fds, _ := parseFdScript(stdout.String()); fds != "0 1 2 3 4" {
		t.Errorf("fds with --preserve-fds 2: %q\n%s", stdout.String(), stderr.String())
	}
	for i, want := range []string{"to-fd-3\n", "to-fd-4\n"} {
		if got := readFile(t, filepath.Join(dir, fmt.Sprintf("extra%d", i))); got != want {
			t.Errorf("preserved fd %d: file holds %q, want %q", 3+i, got, want)
		}
	}
}

// TestSecurityCwdThroughLeakedFd (CVE-2024-21626): process.cwd naming a
// /proc/self/fd/N link must not give the process a cwd outside the
// rootfs (the attack used a leaked fd of the host's cgroupfs).
func TestSecurityCwdThroughLeakedFd(t *testing.T) {
	r := newRuntime(t)
	for n := 3; n <= 12; n++ {
		cwd := fmt.Sprintf("/proc/self/fd/%d", n)
		// Inside the container, the cwd must be a directory of the
		// container: the inode seen at "." equals the one at the path
		// readlink gives, and no ".." walks out of it.
		b := shBundle(t, `c=$(readlink /proc/self/cwd); echo "cwd=$c"; [ "$(stat -c %d:%i .)" = "$(stat -c %d:%i "$c" 2>/dev/null)" ] && echo SAME || echo DIFFERENT; ls ../../../../../ | head -3`,
			testbundle.WithCwd(cwd))
		id := newID(t)
		res := r.runContainer(b, id)
		if res.Code == 0 && !strings.Contains(res.Stdout, "SAME") {
			t.Errorf("cwd %s: the process runs in a directory outside its rootfs:\n%v", cwd, res)
		}
		if strings.Contains(res.Stdout, "cwd=(unreachable)") || strings.Contains(res.Stdout, "/sys/fs/cgroup") {
			t.Errorf("cwd %s: leaked:\n%v", cwd, res)
		}
		r.assertNothingLeft(id)
	}
}

func sha(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// TestSecurityBinaryNotWritableThroughProcExe (CVE-2019-5736): a container
// that gets hold of the runtime's binary through /proc/PID/exe of a
// process the runtime started must not be able to write it. The test runs
// a private copy T of the binary and plays the attacker from the host,
// as root: while the container is created its init still runs the
// runtime, so /proc/INIT/exe is the runtime binary; the attacker keeps an
// O_PATH handle on it and, once the runtime no longer runs (the container
// process has replaced the init), reopens it for writing, which worked
// on the host's binary itself before the fix. Both opens must fail (or the
// write must), and T must be unchanged.
func TestSecurityBinaryNotWritableThroughProcExe(t *testing.T) {
	dir := t.TempDir()
	copyT := filepath.Join(dir, "hutch")
	src, err := os.ReadFile(hutchBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyT, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("hutch", filepath.Join(dir, "hutch-runc")); err != nil {
		t.Fatal(err)
	}
	before := sha(t, copyT)

	r := newRuntime(t)
	r.bin = filepath.Join(dir, "hutch-runc")
	b := shBundle(t, "exec sleep 1000")
	id := newID(t)
	r.create(b, id)
	pid := r.state(id).Pid
	exeLink := fmt.Sprintf("/proc/%d/exe", pid)
	target, _ := os.Readlink(exeLink)
	t.Logf("created container's init runs %s", target)

	// 1. Straight open for writing while the init runs it.
	if f, err := os.OpenFile(exeLink, os.O_WRONLY, 0); err == nil {
		f.Close()
		t.Errorf("open %s (the runtime's binary) for writing succeeded", exeLink)
	} else {
		t.Logf("open %s O_WRONLY: %v", exeLink, err)
	}
	// 2. Keep a handle, wait for the runtime to be gone from the
	// container, then reopen it for writing.
	handle, err := unix.Open(exeLink, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s O_PATH: %v", exeLink, err)
	}
	defer unix.Close(handle)
	r.ok("start", id)
	for i := 0; i < 500; i++ {
		if l, _ := os.Readlink(exeLink); strings.HasSuffix(l, "/sleep") || strings.HasSuffix(l, "/busybox") {
			break
		}
		waitABit()
	}
	if l, _ := os.Readlink(exeLink); !strings.HasSuffix(l, "busybox") {
		t.Fatalf("the container's process did not replace the init: exe %s", l)
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", handle), os.O_WRONLY, 0)
	if err == nil {
		_, werr := f.WriteAt([]byte("HUTCH-CVE-2019-5736"), 0)
		f.Close()
		if werr == nil {
			t.Errorf("the runtime binary was written through the handle from /proc/%d/exe", pid)
		} else {
			t.Logf("reopened for writing, but the write failed: %v", werr)
		}
	} else {
		t.Logf("reopen for writing: %v", err)
	}
	if sha(t, copyT) != before {
		t.Errorf("the runtime binary %s was changed through /proc/PID/exe", copyT)
	}
}

// TestSecurityInitFdsBeforeStart: while a container is created, its init
// (still the runtime) holds nothing of the host but what it needs: no
// directory fd of the host's cgroup or state tree that the process could
// inherit.
func TestSecurityInitFdsBeforeStart(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000")
	id := newID(t)
	r.create(b, id)
	pid := r.state(id).Pid
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, e := range entries {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		links = append(links, e.Name()+" -> "+l)
		if strings.HasPrefix(l, "/sys/fs/cgroup") {
			t.Errorf("created init holds a cgroup fd: %s -> %s", e.Name(), l)
		}
	}
	sort.Strings(links)
	t.Logf("fds of the created init: %v", links)
	r.ok("start", id)
	for i := 0; i < 500; i++ {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(l, "busybox") {
			break
		}
		waitABit()
	}
	entries, _ = os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if strings.Join(names, " ") != "0 1 2" {
		t.Errorf("fds of the started process: %v, want 0 1 2", names)
	}
}
