package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

func TestLifecycleCreateStartKillDelete(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "echo started; exec sleep 1000", testbundle.WithSpec(func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.example.test": "lifecycle"}
	}))
	id := newID(t)
	pidFile := filepath.Join(t.TempDir(), "init.pid")
	r.create(b, id, "--pid-file", pidFile)

	st := r.state(id)
	if st.Status != "created" {
		t.Fatalf("status after create = %q, want created", st.Status)
	}
	if st.Pid <= 0 || !pidAlive(st.Pid) {
		t.Fatalf("created container: pid %d is not a live process", st.Pid)
	}
	if st.ID != id {
		t.Errorf("state id = %q, want %q", st.ID, id)
	}
	if st.OCIVersion == "" || !strings.HasPrefix(st.OCIVersion, "1.") {
		t.Errorf("state ociVersion = %q, want 1.x", st.OCIVersion)
	}
	if st.Bundle != b.Dir {
		t.Errorf("state bundle = %q, want %q", st.Bundle, b.Dir)
	}
	if st.Annotations["org.example.test"] != "lifecycle" {
		t.Errorf("state annotations = %v, want org.example.test=lifecycle", st.Annotations)
	}
	if data, err := os.ReadFile(pidFile); err != nil {
		t.Errorf("pid file: %v", err)
	} else if strings.TrimSpace(string(data)) != strconv.Itoa(st.Pid) {
		t.Errorf("pid file holds %q, state pid %d", data, st.Pid)
	}
	if out, _ := r.containerOutput(id); strings.Contains(out, "started") {
		t.Errorf("the process ran before start: %q", out)
	}

	r.ok("start", id)
	st2 := r.state(id)
	if st2.Status != "running" || st2.Pid != st.Pid {
		t.Fatalf("after start: status %q pid %d, want running pid %d", st2.Status, st2.Pid, st.Pid)
	}
	waitFile(t, func() string { p, _ := r.outputPaths(id); return p }())
	if out, _ := r.containerOutput(id); !strings.Contains(out, "started") {
		t.Errorf("container output %q, want started", out)
	}
	// A second start is refused.
	r.fails("start", id)

	r.ok("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	waitPidGone(t, st.Pid)
	r.ok("delete", id)
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		t.Errorf("state dir still there after delete: %v", err)
	}
	res := r.fails("state", id)
	if !strings.Contains(res.Stderr, "does not exist") && !strings.Contains(res.Stderr, "not exist") {
		t.Errorf("state of a deleted container: %q, want 'does not exist'", res.Stderr)
	}
	if dirs := cgroupDirsNamed(id); len(dirs) > 0 {
		t.Errorf("cgroup dirs left after delete: %v", dirs)
	}
}

func TestLifecycleRunExitStatus(t *testing.T) {
	r := newRuntime(t)
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"exit 255", 255},
	} {
		t.Run(tc.script, func(t *testing.T) {
			b := shBundle(t, tc.script)
			id := newID(t)
			res := r.runContainer(b, id)
			if res.Code != tc.want {
				t.Errorf("run %q: exit %d, want %d\nstderr: %s", tc.script, res.Code, tc.want, res.Stderr)
			}
			r.assertNothingLeft(id)
		})
	}
}

// TestLifecycleRunKilledBySignal: a process killed by signal N makes `run`
// exit 128+N, as a shell reports it.
func TestLifecycleRunKilledBySignal(t *testing.T) {
	r := newRuntime(t)
	for _, sig := range []struct {
		name string
		num  int
	}{{"KILL", 9}, {"TERM", 15}} {
		t.Run(sig.name, func(t *testing.T) {
			// In the host's pid namespace: a namespace's init only
			// receives the signals it has handlers for (and SIGKILL).
			b := testbundle.New(t, testbundle.WithArgs("sleep", "1000"), testbundle.WithoutNamespace(specs.PIDNamespace))
			id := newID(t)
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			defer cancel()
			cmd := r.command(ctx, "run", "--bundle", b.Dir, id)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.run("delete", "--force", id) })
			for i := 0; i < 500; i++ {
				if res := r.run("state", id); res.Code == 0 && strings.Contains(res.Stdout, `"running"`) {
					break
				}
				waitABit()
			}
			r.ok("kill", id, sig.name)
			err := cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != 128+sig.num {
				t.Errorf("run of a process killed by SIG%s: exit %d, want %d\nstderr: %s", sig.name, code, 128+sig.num, stderr.String())
			}
			r.assertNothingLeft(id)
		})
	}
}

func TestLifecycleRunOutput(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "echo out; echo err >&2")
	res := r.runContainer(b, newID(t))
	if res.Code != 0 || res.Stdout != "out\n" || res.Stderr != "err\n" {
		t.Errorf("run: %v", res)
	}
}

func TestLifecycleKillSignals(t *testing.T) {
	r := newRuntime(t)
	for _, sig := range []string{"KILL", "SIGKILL", "9", "TERM", "15", "sigterm"} {
		t.Run(sig, func(t *testing.T) {
			// sh as PID 1 ignores TERM unless it traps it: trap and exit.
			b := shBundle(t, "trap 'exit 0' TERM; while true; do sleep 0.1; done")
			id := newID(t)
			pid := r.startDetached(b, id)
			r.ok("kill", id, sig)
			r.waitStatus(id, "stopped")
			waitPidGone(t, pid)
			r.ok("delete", id)
			r.assertNothingLeft(id)
		})
	}
	t.Run("unknown signal", func(t *testing.T) {
		b := shBundle(t, "exec sleep 1000")
		id := newID(t)
		r.startDetached(b, id)
		res := r.fails("kill", id, "SIGNOPE")
		assertOneLineError(t, res, "SIGNOPE")
		if st := r.state(id); st.Status != "running" {
			t.Errorf("status after a refused kill: %q", st.Status)
		}
	})
}

func TestLifecycleKillAll(t *testing.T) {
	r := newRuntime(t)
	// Children that ignore nothing but are not the init: kill --all must
	// reach them too.
	b := shBundle(t, "sleep 1000 & sleep 1000 & echo ready; wait")
	id := newID(t)
	pid := r.startDetached(b, id)
	ps := waitProcs(t, r, id, 3)
	r.ok("kill", "--all", id, "KILL")
	r.waitStatus(id, "stopped")
	for _, p := range ps {
		waitPidGone(t, p)
	}
	waitPidGone(t, pid)
	r.ok("delete", id)
	r.assertNothingLeft(id)
}

// waitProcs polls `ps --format json` until the container has n processes.
func waitProcs(t *testing.T, r *runtimeT, id string, n int) []int {
	t.Helper()
	var pids []int
	for i := 0; i < 500; i++ {
		out := r.ok("ps", "--format", "json", id)
		pids = nil
		if err := json.Unmarshal([]byte(out), &pids); err != nil {
			t.Fatalf("ps --format json: %v\n%s", err, out)
		}
		if len(pids) >= n {
			return pids
		}
		waitABit()
	}
	t.Fatalf("container %s: %d processes, want %d", id, len(pids), n)
	return nil
}

func TestLifecycleDeleteForce(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000")
	id := newID(t)
	pid := r.startDetached(b, id)
	res := r.fails("delete", id)
	if !strings.Contains(res.Stderr, "running") {
		t.Errorf("delete of a running container: %q, want a message saying it runs", res.Stderr)
	}
	if !pidAlive(pid) {
		t.Fatalf("a refused delete killed the container")
	}
	r.ok("delete", "--force", id)
	waitPidGone(t, pid)
	r.assertNothingLeft(id)
	// delete --force of a container that does not exist succeeds, as runc.
	r.ok("delete", "--force", id)
}

func TestLifecycleDeleteCreated(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000")
	id := newID(t)
	r.create(b, id)
	pid := r.state(id).Pid
	r.ok("delete", id)
	waitPidGone(t, pid)
	r.assertNothingLeft(id)
}

func TestLifecycleListAndPs(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "sleep 1000 & exec sleep 1001")
	id1, id2 := newID(t), newID(t)
	pid1 := r.startDetached(b, id1)
	r.create(b, id2)

	out := r.ok("list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("list: want a header and 2 rows:\n%s", out)
	}
	for _, want := range [][2]string{{id1, "running"}, {id2, "created"}} {
		row := lineWithPrefix(out, want[0]+" ")
		if row == "" || !strings.Contains(row, want[1]) || !strings.Contains(row, b.Dir) {
			t.Errorf("list: no row for %s %s with the bundle:\n%s", want[0], want[1], out)
		}
	}
	if q := r.ok("list", "-q"); strings.Fields(q)[0] != id1 || len(strings.Fields(q)) != 2 {
		t.Errorf("list -q:\n%s", q)
	}

	var list []struct {
		ID     string `json:"id"`
		Pid    int    `json:"pid"`
		Status string `json:"status"`
		Bundle string `json:"bundle"`
	}
	js := r.ok("list", "--format", "json")
	if err := json.Unmarshal([]byte(js), &list); err != nil {
		t.Fatalf("list --format json: %v\n%s", err, js)
	}
	if len(list) != 2 {
		t.Fatalf("list --format json: %d entries, want 2\n%s", len(list), js)
	}
	for _, c := range list {
		switch c.ID {
		case id1:
			if c.Status != "running" || c.Pid != pid1 || c.Bundle != b.Dir {
				t.Errorf("list json entry %+v, want running pid %d bundle %s", c, pid1, b.Dir)
			}
		case id2:
			if c.Status != "created" {
				t.Errorf("list json entry %+v, want created", c)
			}
		default:
			t.Errorf("list json: unexpected %+v", c)
		}
	}

	pids := waitProcs(t, r, id1, 2)
	if len(pids) != 2 {
		t.Errorf("ps --format json = %v, want 2 pids", pids)
	}
	found := false
	for _, p := range pids {
		if p == pid1 {
			found = true
		}
	}
	if !found {
		t.Errorf("ps --format json = %v, does not hold the init %d", pids, pid1)
	}
	// The table form runs ps(1) on the host, as runc; just check it names
	// the pids.
	if tbl := r.run("ps", id1); tbl.Code == 0 && !strings.Contains(tbl.Stdout, strconv.Itoa(pid1)) {
		t.Errorf("ps table does not show pid %d:\n%s", pid1, tbl.Stdout)
	}
	// An empty root lists nothing, without error.
	r2 := newRuntime(t)
	if out := r2.ok("list", "--format", "json"); strings.TrimSpace(out) != "[]" && strings.TrimSpace(out) != "null" {
		t.Errorf("list --format json of an empty root: %q", out)
	}
}

func TestLifecycleDuplicateID(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000")
	id := newID(t)
	pid := r.startDetached(b, id)
	res := r.tryCreate(b, id)
	assertOneLineError(t, res, id, "already exists")
	st := r.state(id)
	if st.Status != "running" || st.Pid != pid || !pidAlive(pid) {
		t.Errorf("first container after a duplicate create: %+v", st)
	}
	r.ok("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	r.ok("delete", id)
	r.assertNothingLeft(id)
}
