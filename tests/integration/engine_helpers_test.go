package integration

// Helpers for end-to-end tests of the engine commands (hutch run, ps,
// logs ...). Each test gets its own --root and --runroot and a busybox
// image imported into them; when it ends, every container it made is
// removed and the test fails if anything of them is left: a mount under
// its roots, a cgroup or a process of its containers.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// engineT runs hutch with a private --root and --runroot.
type engineT struct {
	t       *testing.T
	root    string
	runroot string
	// image is the name of the busybox image in root.
	image string
	// env is what every hutch command of the test gets on top of ours:
	// the default network's bridge, subnet and nftables table of the
	// test's own, so tests never touch the host's hutch0.
	env []string
	// bridge and table are those names, removed when the test ends.
	bridge, table string
}

// netCounter numbers the default networks of the tests of this process.
var netCounter atomic.Int64

// busyboxTarOnce is the busybox rootfs tar all engine tests import.
var (
	busyboxTarOnce sync.Once
	busyboxTarPath string
)

// newEngine returns hutch with fresh roots holding the image
// "busybox:test" (Debian's busybox-static with its applet links).
func newEngine(t *testing.T) *engineT {
	t.Helper()
	dir, err := os.MkdirTemp("", "hutch-it-engine-")
	if err != nil {
		t.Fatal(err)
	}
	e := &engineT{t: t, root: filepath.Join(dir, "root"), runroot: filepath.Join(dir, "run"), image: "busybox:test"}
	n := netCounter.Add(1)
	e.bridge = fmt.Sprintf("hbe%d%d", os.Getpid()%10000, n%100)
	e.table = "hutch-" + e.bridge
	e.env = []string{
		"HUTCH_DEFAULT_BRIDGE=" + e.bridge,
		// 10.90.0.0/16 is the engine tests' own range (the network
		// package's tests use 10.89.128.0/17).
		fmt.Sprintf("HUTCH_DEFAULT_SUBNET=10.90.%d.0/24", (os.Getpid()+int(n))%250+1),
		"HUTCH_NFT_TABLE=" + e.table,
	}
	t.Cleanup(func() {
		e.removeAll()
		e.assertClean()
		exec.Command("ip", "link", "del", e.bridge).Run()
		exec.Command("nft", "delete", "table", "inet", e.table).Run()
		if !t.Failed() {
			e.unmountAll(dir)
			os.RemoveAll(dir)
		} else {
			// Keep the state for a look, but never leave a mount.
			e.unmountAll(dir)
			t.Logf("engine state kept in %s", dir)
		}
	})
	busyboxTarOnce.Do(func() {
		// Shared by every test of this process, outside any test's temp
		// dir: a plain tar of the busybox test rootfs.
		b := filepath.Join(os.TempDir(), fmt.Sprintf("hutch-it-busybox-%d.tar", os.Getpid()))
		tarOf(t, b)
		busyboxTarPath = b
	})
	e.ok("import", busyboxTarPath, e.image)
	return e
}

func tarOf(t *testing.T, file string) {
	t.Helper()
	src := busyboxTar(t)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// command returns hutch --root --runroot args..., not started.
func (e *engineT) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, hutchBin, append([]string{"--root", e.root, "--runroot", e.runroot}, args...)...)
	cmd.Env = append(os.Environ(), e.env...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// engineResult is what one hutch command did.
type engineResult struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

func (r engineResult) String() string {
	return fmt.Sprintf("hutch %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// run runs hutch with args and stdin.
func (e *engineT) runIn(stdin string, args ...string) engineResult {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := engineResult{Args: args, Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("hutch %s: %v", strings.Join(args, " "), err)
	}
	return res
}

func (e *engineT) run(args ...string) engineResult { return e.runIn("", args...) }

// runParallel runs hutch with args(i) for i in [0, n) all at once, reports
// every failure, and returns each run's trimmed stdout ("" where it failed).
func (e *engineT) runParallel(n int, args func(i int) []string) []string {
	e.t.Helper()
	outs := make([]string, n)
	errs := make(chan string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.run(args(i)...)
			if r.Code != 0 {
				errs <- r.String()
				return
			}
			outs[i] = strings.TrimSpace(r.Stdout)
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		e.t.Error(msg)
	}
	return outs
}

// ok runs hutch and fails the test unless it exits 0; it returns stdout.
func (e *engineT) ok(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.Code != 0 {
		e.t.Fatalf("%v", r)
	}
	return r.Stdout
}

// fails runs hutch and fails the test unless it exits with code.
func (e *engineT) fails(code int, args ...string) engineResult {
	e.t.Helper()
	r := e.run(args...)
	if r.Code != code {
		e.t.Fatalf("want exit %d\n%v", code, r)
	}
	return r
}

// runDetached runs `hutch run -d args...` and returns the container's ID.
func (e *engineT) runDetached(args ...string) string {
	e.t.Helper()
	return strings.TrimSpace(e.ok(append([]string{"run", "-d"}, args...)...))
}

// inspect returns one field of the container through a template.
func (e *engineT) inspect(ref, format string) string {
	e.t.Helper()
	return strings.TrimSpace(e.ok("inspect", "--format", format, ref))
}

// waitState polls until the container's State.Status is want.
func (e *engineT) waitState(ref, want string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The container may not exist yet (a run that is creating it).
		r := e.run("inspect", "--format", "{{.State.Status}}", ref)
		got := strings.TrimSpace(r.Stdout)
		if r.Code == 0 && got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s: state %q, want %q", ref, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ids lists the IDs of every container in the roots.
func (e *engineT) ids() []string {
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	var ids []string
	for _, ent := range ents {
		if len(ent.Name()) == 64 {
			ids = append(ids, ent.Name())
		}
	}
	return ids
}

// removeAll removes every container the test left, and checks that
// nothing of them stays in the kernel.
func (e *engineT) removeAll() {
	for _, id := range e.ids() {
		if r := e.run("rm", "-f", id); r.Code != 0 {
			e.t.Errorf("cleanup: %v", r)
		}
		e.assertGone(id)
	}
}

// assertClean fails the test if a container of these roots left a mount,
// a runtime state, a cgroup or a process behind.
func (e *engineT) assertClean() {
	e.t.Helper()
	if ids := e.ids(); len(ids) > 0 {
		e.t.Errorf("records left: %v", ids)
	}
	for _, m := range e.mountsUnder(filepath.Dir(e.root)) {
		e.t.Errorf("mount left: %s", m)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.runroot, "runtime")); len(ents) > 0 {
		var names []string
		for _, ent := range ents {
			if !strings.HasPrefix(ent.Name(), ".") {
				names = append(names, ent.Name())
			}
		}
		if len(names) > 0 {
			e.t.Errorf("runtime state left: %v", names)
		}
	}
}

// assertGone checks that nothing of container id is left in the kernel.
func (e *engineT) assertGone(id string) {
	e.t.Helper()
	if dirs := cgroupDirsNamed(id); len(dirs) > 0 {
		e.t.Errorf("cgroups of %s left: %v", id, dirs)
	}
	if pids := pidsInCgroupNamed(id); len(pids) > 0 {
		e.t.Errorf("processes of %s left: %v", id, pids)
	}
	for _, m := range e.mountsUnder(filepath.Dir(e.root)) {
		if strings.Contains(m, id) {
			e.t.Errorf("mount of %s left: %s", id, m)
		}
	}
}

// mountsUnder lists mount points below dir, but for RUNROOT/netns, the
// shared bind mount that stays (see assertClean).
func (e *engineT) mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") && f[4] != filepath.Join(e.runroot, "netns") {
			out = append(out, f[4])
		}
	}
	return out
}

func (e *engineT) unmountAll(dir string) {
	ms := append(e.mountsUnder(dir), filepath.Join(e.runroot, "netns"))
	for i := len(ms) - 1; i >= 0; i-- {
		exec.Command("umount", "-l", ms[i]).Run()
	}
}
