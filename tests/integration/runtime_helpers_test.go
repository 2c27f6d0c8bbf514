// Package integration holds the end-to-end tests of hutch-runc: each test
// starts real containers as root through the built binary, with its own
// --root and its own container ids, and removes only what it made.
//
//	go build -o bin/hutch ./cmd/hutch && ln -sf hutch bin/hutch-runc
//	go test -count=1 -p 1 ./tests/integration/...
//
// HUTCH_BIN names the binary (default ../../bin/hutch); it is run through a
// hutch-runc symbolic link so that it speaks runc's command line.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

var (
	// hutchBin is the absolute path of the hutch binary under test.
	hutchBin string
	// runcPath is a hutch-runc symbolic link to hutchBin.
	runcPath string
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("tests/integration: skipped, these tests start containers and must run as root")
		os.Exit(0)
	}
	bin := os.Getenv("HUTCH_BIN")
	if bin == "" {
		bin = "../../bin/hutch"
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := os.Stat(abs); err != nil {
		fmt.Fprintf(os.Stderr, "tests/integration: %v (build it with make, or set HUTCH_BIN)\n", err)
		os.Exit(2)
	}
	hutchBin = abs
	dir, err := os.MkdirTemp("", "hutch-it-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	runcPath = filepath.Join(dir, "hutch-runc")
	if err := os.Symlink(hutchBin, runcPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// The engine's containers live in /hutch/ID of every hierarchy; the
	// /hutch parents the tests make are removed at the end (rmdir: only
	// when empty, so never under a container that is not ours).
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/hutch")
	had := map[string]bool{}
	for _, p := range parents {
		had[p] = true
	}
	code := m.Run()
	after, _ := filepath.Glob("/sys/fs/cgroup/*/hutch")
	for _, p := range after {
		if !had[p] {
			os.Remove(p)
		}
	}
	os.RemoveAll(dir)
	if busyboxTarPath != "" {
		os.Remove(busyboxTarPath) // the engine tests' image, shared by them
	}
	os.Exit(code)
}

// commandTimeout bounds every runtime command so that a hang fails the
// test instead of the whole run; it is not an assertion on speed.
const commandTimeout = 2 * time.Minute

// result is what one invocation of the runtime did.
type result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

func (r result) String() string {
	return fmt.Sprintf("hutch-runc %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// runtimeT runs hutch-runc with a private --root for one test.
type runtimeT struct {
	t    *testing.T
	root string
	bin  string // the hutch-runc path to run (runcPath unless changed)

	outputs map[string][2]string // container id -> its stdout and stderr files
	wrap    []string             // a command (and its args) to run hutch-runc under
	// deadline, when set, replaces commandTimeout for the next commands.
	deadline time.Duration
}

func (r *runtimeT) timeout() time.Duration {
	if r.deadline > 0 {
		return r.deadline
	}
	return commandTimeout
}

// newRuntime returns a runtime with its own state root. When the test ends
// every container still under that root is deleted with --force.
func newRuntime(t *testing.T) *runtimeT {
	t.Helper()
	root, err := os.MkdirTemp("", "hutch-it-root-")
	if err != nil {
		t.Fatal(err)
	}
	r := &runtimeT{t: t, root: root, bin: runcPath}
	t.Cleanup(func() {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if e.IsDir() {
				r.run("delete", "--force", e.Name())
			}
		}
		os.RemoveAll(root)
		os.RemoveAll(root + "-logs")
	})
	return r
}

var idCounter atomic.Int64

// newID returns a container id unique to this test process and test.
func newID(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.TrimPrefix(t.Name(), "Test"))
	if len(name) > 24 {
		name = name[:24]
	}
	return fmt.Sprintf("it%d-%s-%d", os.Getpid(), strings.ToLower(name), idCounter.Add(1))
}

// command returns an exec.Cmd for hutch-runc --root ROOT args..., not
// started; stdio is left to the caller.
func (r *runtimeT) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{r.bin, "--root", r.root}, args...)
	full = append(append([]string{}, r.wrap...), full...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs hutch-runc with args and no stdin, and returns what it did.
func (r *runtimeT) run(args ...string) result {
	return r.runIn("", args...)
}

// runIn is run with stdin.
func (r *runtimeT) runIn(stdin string, args ...string) result {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout())
	defer cancel()
	cmd := r.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	res := result{Args: args, Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.t.Fatalf("hutch-runc %s: did not finish within %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.timeout(), res.Stdout, res.Stderr)
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
		if ws, ok := ee.Sys().(interface{ Signaled() bool }); ok && ws.Signaled() {
			r.t.Fatalf("hutch-runc %s: killed by a signal: %v\nstderr: %s", strings.Join(args, " "), err, res.Stderr)
		}
	case err != nil:
		r.t.Fatalf("hutch-runc %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// ok runs hutch-runc and fails the test unless it exits 0; it returns
// stdout.
func (r *runtimeT) ok(args ...string) string {
	r.t.Helper()
	res := r.run(args...)
	if res.Code != 0 {
		r.t.Fatalf("%v", res)
	}
	return res.Stdout
}

// fails runs hutch-runc and fails the test if it exits 0.
func (r *runtimeT) fails(args ...string) result {
	r.t.Helper()
	res := r.run(args...)
	if res.Code == 0 {
		r.t.Fatalf("expected failure, got success: %v", res)
	}
	return res
}

// runContainer runs a container in the foreground (`run`) and returns its
// result; the container is deleted by run itself.
func (r *runtimeT) runContainer(b *testbundle.Bundle, id string, extra ...string) result {
	r.t.Helper()
	args := append([]string{"run", "--bundle", b.Dir}, extra...)
	return r.run(append(args, id)...)
}

// output runs a container and returns its stdout, failing the test on a
// non-zero exit.
func (r *runtimeT) output(b *testbundle.Bundle, id string) string {
	r.t.Helper()
	res := r.runContainer(b, id)
	if res.Code != 0 {
		r.t.Fatalf("%v", res)
	}
	return res.Stdout
}

// create creates a container (state "created") and registers its
// forced deletion. The container's stdout and stderr go to files (see
// containerOutput): a pipe would keep `create` waiting for the container.
func (r *runtimeT) create(b *testbundle.Bundle, id string, extra ...string) {
	r.t.Helper()
	res := r.tryCreate(b, id, extra...)
	if res.Code != 0 {
		r.t.Fatalf("%v", res)
	}
}

// tryCreate runs create and returns its result; the runtime's own messages
// are in res.Stderr only up to the container's start, so they are read
// from the stderr file after create returns.
func (r *runtimeT) tryCreate(b *testbundle.Bundle, id string, extra ...string) result {
	r.t.Helper()
	args := append(append([]string{"create", "--bundle", b.Dir}, extra...), id)
	r.t.Cleanup(func() { r.run("delete", "--force", id) })
	return r.runFiles(id, args...)
}

// runFiles runs hutch-runc with stdin /dev/null and stdout/stderr in files
// named after id in the runtime's log directory; the result holds what the
// files contain when the command has exited.
func (r *runtimeT) runFiles(id string, args ...string) result {
	r.t.Helper()
	outPath, errPath := r.newOutputPaths(id)
	stdout, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(errPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer stderr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout())
	defer cancel()
	cmd := r.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	res := result{Args: args}
	o, _ := os.ReadFile(outPath)
	e, _ := os.ReadFile(errPath)
	res.Stdout, res.Stderr = string(o), string(e)
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.t.Fatalf("hutch-runc %s: did not finish within %v\nstderr: %s", strings.Join(args, " "), r.timeout(), res.Stderr)
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		r.t.Fatalf("hutch-runc %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// newOutputPaths returns new files for the stdout and stderr of one
// command; the first pair made for id is the container's (outputPaths).
func (r *runtimeT) newOutputPaths(id string) (string, string) {
	dir := r.root + "-logs"
	os.MkdirAll(dir, 0o755)
	n := idCounter.Add(1)
	o, e := filepath.Join(dir, fmt.Sprintf("%s.%d.out", id, n)), filepath.Join(dir, fmt.Sprintf("%s.%d.err", id, n))
	if r.outputs == nil {
		r.outputs = map[string][2]string{}
	}
	if _, ok := r.outputs[id]; !ok {
		r.outputs[id] = [2]string{o, e}
	}
	return o, e
}

// outputPaths are the files that receive a created container's stdout and
// stderr.
func (r *runtimeT) outputPaths(id string) (string, string) {
	p := r.outputs[id]
	return p[0], p[1]
}

// containerOutput returns what a created container has written so far.
func (r *runtimeT) containerOutput(id string) (stdout, stderr string) {
	o, e := r.outputPaths(id)
	ob, _ := os.ReadFile(o)
	eb, _ := os.ReadFile(e)
	return string(ob), string(eb)
}

// startDetached creates and starts a container whose process keeps
// running (its stdio goes to files in the bundle), and returns its pid.
func (r *runtimeT) startDetached(b *testbundle.Bundle, id string) int {
	r.t.Helper()
	r.create(b, id)
	r.ok("start", id)
	st := r.state(id)
	if st.Status != "running" {
		r.t.Fatalf("container %s: status %q after start, want running", id, st.Status)
	}
	return st.Pid
}

// stateJSON is what `state` prints.
type stateJSON struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations"`
}

func (r *runtimeT) state(id string) stateJSON {
	r.t.Helper()
	out := r.ok("state", id)
	var st stateJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		r.t.Fatalf("state %s: not JSON: %v\n%s", id, err, out)
	}
	return st
}

// waitStatus polls `state` until the container has status want.
func (r *runtimeT) waitStatus(id, want string) stateJSON {
	r.t.Helper()
	var st stateJSON
	for i := 0; i < 1000; i++ {
		st = r.state(id)
		if st.Status == want {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("container %s: status %q, want %q", id, st.Status, want)
	return st
}

// waitABit is the pause between two polls.
func waitABit() { time.Sleep(20 * time.Millisecond) }

// waitFile polls until path exists with non-empty content and returns it.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	for i := 0; i < 1500; i++ {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			return string(data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not written", path)
	return ""
}

// --- bundles ---

// shBundle makes a bundle whose process is `sh -c script`.
func shBundle(t *testing.T, script string, opts ...testbundle.Option) *testbundle.Bundle {
	t.Helper()
	return testbundle.New(t, append([]testbundle.Option{testbundle.WithArgs("sh", "-c", script)}, opts...)...)
}

// withResources sets linux.resources.
func withResources(res *specs.LinuxResources) testbundle.Option {
	return testbundle.WithSpec(func(s *specs.Spec) { s.Linux.Resources = res })
}

// --- leftovers ---

// assertNothingLeft checks that a failed create of id left nothing behind:
// no state directory under the runtime's root, no cgroup directory named
// id in any hierarchy, no process in such a cgroup.
func (r *runtimeT) assertNothingLeft(id string) {
	r.t.Helper()
	if _, err := os.Lstat(filepath.Join(r.root, id)); err == nil {
		r.t.Errorf("state directory %s left behind", filepath.Join(r.root, id))
	}
	// Hidden entries (such as a compile cache) are the runtime's own,
	// not a container's.
	var names []string
	entries, _ := os.ReadDir(r.root)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	if len(names) > 0 {
		r.t.Errorf("state root %s holds containers: %v", r.root, names)
	}
	if dirs := cgroupDirsNamed(id); len(dirs) > 0 {
		r.t.Errorf("cgroup directories left behind: %v", dirs)
	}
	if pids := pidsInCgroupNamed(id); len(pids) > 0 {
		r.t.Errorf("processes left behind in a cgroup named %s: %v", id, pids)
	}
	if out := r.ok("list", "-q"); strings.Contains(out, id) {
		r.t.Errorf("list still shows %s:\n%s", id, out)
	}
}

// cgroupDirsNamed finds directories called name in every cgroup hierarchy
// under /sys/fs/cgroup (a few levels deep: the runtime nests the
// container's cgroup under the caller's).
func cgroupDirsNamed(name string) []string {
	var found []string
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		if depth > 8 {
			return
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if e.Name() == name {
				found = append(found, p)
			}
			walk(p, depth+1)
		}
	}
	walk("/sys/fs/cgroup", 0)
	return found
}

// pidsInCgroupNamed lists the processes whose cgroup path, in any
// hierarchy, has a component called name.
func pidsInCgroupNamed(name string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) == 3 && containsComponent(parts[2], name) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func containsComponent(path, name string) bool {
	for _, c := range strings.Split(path, "/") {
		if c == name {
			return true
		}
	}
	return false
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	return data[i+2] != 'Z' && data[i+2] != 'X'
}

// waitPidGone polls until pid is gone (or a zombie).
func waitPidGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if !pidAlive(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("process %d still alive", pid)
}

// assertOneLineError checks that a failure printed one clear line on
// stderr that mentions every word of want.
func assertOneLineError(t *testing.T, res result, want ...string) {
	t.Helper()
	if res.Code == 0 {
		t.Fatalf("expected failure: %v", res)
	}
	msg := strings.TrimSpace(res.Stderr)
	if msg == "" {
		t.Errorf("no error message on stderr: %v", res)
		return
	}
	if n := strings.Count(msg, "\n"); n > 0 {
		t.Errorf("error message is %d lines, want one:\n%s", n+1, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error message does not mention %q:\n%s", w, msg)
		}
	}
}

// hostNS returns the inode link of one of this process's namespaces.
func hostNS(t *testing.T, typ string) string {
	t.Helper()
	l, err := os.Readlink("/proc/self/ns/" + typ)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fields returns the whitespace-separated fields of the line of s that
// starts with prefix.
func lineWithPrefix(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// readFile returns the content of a host file, failing the test if it
// cannot be read.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func readDir(path string) ([]os.DirEntry, error) { return os.ReadDir(path) }
