// Package cgroup2 holds end-to-end tests of hutch-runc that only mean
// something on pure cgroup v2: the unified hierarchy mounted alone at
// /sys/fs/cgroup, every controller in it, devices through an eBPF program.
// Our machines have the v1/v2 hybrid layout, so these run inside a qemu
// guest: tests/cgroup2/run.sh (`make test-cgroup2`) builds them with
// `go test -c` into an initramfs and boots Debian's kernel on it. Elsewhere
// (not root, not pure v2) every test skips.
//
// HUTCH_BIN names the hutch binary (default ../../bin/hutch); it is run
// through a hutch-runc symbolic link so that it speaks runc's command line.
package cgroup2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/internal/testbundle"
)

const cgroupRoot = "/sys/fs/cgroup"

var (
	runcPath string // a hutch-runc link to the binary under test
	skipWhy  string // why every test skips, if it does
)

func TestMain(m *testing.M) {
	var st unix.Statfs_t
	switch {
	case os.Geteuid() != 0:
		skipWhy = "needs root"
	case unix.Statfs(cgroupRoot, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC:
		skipWhy = cgroupRoot + " is not a cgroup2 mount (pure cgroup v2 only; tests/cgroup2/run.sh runs these in a qemu guest)"
	}
	if skipWhy == "" {
		bin := os.Getenv("HUTCH_BIN")
		if bin == "" {
			bin = "../../bin/hutch"
		}
		abs, err := filepath.Abs(bin)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "tests/cgroup2: hutch binary: %v (build it with make, or set HUTCH_BIN)\n", err)
			os.Exit(2)
		}
		dir, err := os.MkdirTemp("", "hutch-cg2-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer os.RemoveAll(dir)
		runcPath = filepath.Join(dir, "hutch-runc")
		if err := os.Symlink(abs, runcPath); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	code := m.Run()
	if runcPath != "" {
		os.RemoveAll(filepath.Dir(runcPath))
	}
	os.Exit(code)
}

func needV2(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}

// commandTimeout bounds each runtime command (emulated machines are slow);
// it is a guard against hangs, not an assertion on speed.
const commandTimeout = 2 * time.Minute

type result struct {
	args           []string
	stdout, stderr string
	code           int
	// The files that received stdout and stderr (a created container
	// keeps writing to them).
	outFile, errFile string
}

func (r result) String() string {
	return fmt.Sprintf("hutch-runc %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// rt is hutch-runc with a private --root for one test.
type rt struct {
	t    *testing.T
	root string
	logs string
}

var counter atomic.Int64

func newRuntime(t *testing.T) *rt {
	t.Helper()
	needV2(t)
	root, err := os.MkdirTemp("", "hutch-cg2-root-")
	if err != nil {
		t.Fatal(err)
	}
	r := &rt{t: t, root: root, logs: root + "-logs"}
	if err := os.MkdirAll(r.logs, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			r.run("delete", "--force", e.Name())
		}
		os.RemoveAll(root)
		os.RemoveAll(r.logs)
	})
	return r
}

func newID(t *testing.T) string {
	name := strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.TrimPrefix(t.Name(), "TestV2")))
	if len(name) > 20 {
		name = name[:20]
	}
	return fmt.Sprintf("cg2-%s-%d", name, counter.Add(1))
}

// run runs hutch-runc --root ROOT args with stdout and stderr in files (a
// pipe would keep `create` waiting for the container, which inherits it).
func (r *rt) run(args ...string) result {
	r.t.Helper()
	n := counter.Add(1)
	outPath := filepath.Join(r.logs, fmt.Sprintf("%d.out", n))
	errPath := filepath.Join(r.logs, fmt.Sprintf("%d.err", n))
	out, err := os.Create(outPath)
	if err != nil {
		r.t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(errPath)
	if err != nil {
		r.t.Fatal(err)
	}
	defer errf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runcPath, append([]string{"--root", r.root}, args...)...)
	cmd.Stdout, cmd.Stderr = out, errf
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	o, _ := os.ReadFile(outPath)
	e, _ := os.ReadFile(errPath)
	res := result{args: args, stdout: string(o), stderr: string(e), outFile: outPath, errFile: errPath}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.t.Fatalf("hutch-runc %s: not finished after %v\nstderr: %s", strings.Join(args, " "), commandTimeout, res.stderr)
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		r.t.Fatalf("hutch-runc %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// ok runs hutch-runc and fails the test unless it exits 0.
func (r *rt) ok(args ...string) string {
	r.t.Helper()
	res := r.run(args...)
	if res.code != 0 {
		r.t.Fatalf("%v", res)
	}
	return res.stdout
}

// start creates and starts a container that keeps running; its stdout and
// stderr go to files in the logs directory. It returns the container's pid.
func (r *rt) start(b *testbundle.Bundle, id string) int {
	r.t.Helper()
	r.t.Cleanup(func() { r.run("delete", "--force", id) })
	res := r.run("create", "--bundle", b.Dir, id)
	if res.code != 0 {
		r.t.Fatalf("%v", res)
	}
	r.ok("start", id)
	st := r.state(id)
	if st.Status != "running" {
		r.t.Fatalf("container %s: status %q after start", id, st.Status)
	}
	return st.Pid
}

type state struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
}

func (r *rt) state(id string) state {
	r.t.Helper()
	out := r.ok("state", id)
	var st state
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		r.t.Fatalf("state %s: %v\n%s", id, err, out)
	}
	return st
}

func (r *rt) waitStatus(id, want string) state {
	r.t.Helper()
	var st state
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if st = r.state(id); st.Status == want {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("container %s: status %q, want %q", id, st.Status, want)
	return st
}

// stats is the part of `events --stats` these tests read.
type stats struct {
	Type string `json:"type"`
	Data struct {
		CPU struct {
			Usage struct {
				Total uint64 `json:"total"`
			} `json:"usage"`
			Throttling struct {
				Periods          uint64 `json:"periods"`
				ThrottledPeriods uint64 `json:"throttledPeriods"`
				ThrottledTime    uint64 `json:"throttledTime"`
			} `json:"throttling"`
		} `json:"cpu"`
		Memory struct {
			Usage struct {
				Limit uint64 `json:"limit"`
				Usage uint64 `json:"usage"`
			} `json:"usage"`
			OOMKills uint64 `json:"oomKills"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
	} `json:"data"`
}

func (r *rt) stats(id string) stats {
	r.t.Helper()
	out := r.ok("events", "--stats", id)
	var s stats
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		r.t.Fatalf("events --stats %s: %v\n%s", id, err, out)
	}
	if s.Type != "stats" {
		r.t.Errorf("events --stats: type %q, want stats", s.Type)
	}
	return s
}

// --- cgroups ---

// cgroupOf returns the directory of pid's cgroup ("0::/path" in
// /proc/PID/cgroup on pure v2).
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(cgroupRoot, p)
		}
	}
	t.Fatalf("/proc/%d/cgroup has no unified entry: %q", pid, data)
	return ""
}

// cgRead returns the trimmed content of a cgroup file.
func cgRead(t *testing.T, dir, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func gone(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, os.ErrNotExist)
}

// --- bundles ---

func shBundle(t *testing.T, script string, opts ...testbundle.Option) *testbundle.Bundle {
	t.Helper()
	return testbundle.New(t, append([]testbundle.Option{testbundle.WithArgs("sh", "-c", script)}, opts...)...)
}

func withResources(res *specs.LinuxResources) testbundle.Option {
	return testbundle.WithSpec(func(s *specs.Spec) { s.Linux.Resources = res })
}

func withCgroupsPath(p string) testbundle.Option {
	return testbundle.WithSpec(func(s *specs.Spec) { s.Linux.CgroupsPath = p })
}

func ptr[T any](v T) *T { return &v }
