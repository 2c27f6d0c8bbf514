package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// monitorPid returns the pid of the container's monitor.
func (e *engineT) monitorPid(ref string) int {
	e.t.Helper()
	pid, err := strconv.Atoi(e.inspect(ref, "{{.State.MonitorPid}}"))
	if err != nil || pid <= 0 {
		e.t.Fatalf("container %s: no monitor pid", ref)
	}
	return pid
}

func TestEngineMonitorKilled(t *testing.T) {
	e := newEngine(t)
	id := e.runDetached("--name", "orphan", e.image, "sleep", "1000")
	pid, _ := strconv.Atoi(e.inspect("orphan", "{{.State.Pid}}"))
	syscall.Kill(e.monitorPid("orphan"), syscall.SIGKILL)
	// The container itself still runs: ps shows it, and rm -f ends it
	// and everything it held.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.inspect("orphan", "{{.State.Error}}"), "monitor") {
		if time.Now().After(deadline) {
			t.Fatalf("the monitor's death is not recorded: %s", e.inspect("orphan", "{{json .State}}"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !pidAlive(pid) {
		t.Errorf("the container's init died with its monitor")
	}
	if got := e.inspect("orphan", "{{.State.Status}}"); got != "running" {
		t.Errorf("state %q", got)
	}
	e.ok("rm", "-f", "orphan")
	if pidAlive(pid) {
		t.Errorf("rm -f left the init %d", pid)
	}
	e.assertGone(id)
}

func TestEngineClientKilled(t *testing.T) {
	// The foreground `hutch run` dies: the container goes on (as with
	// Docker), its monitor records its end.
	e := newEngine(t)
	cmd := e.command(t.Context(), "run", "--name", "fg", e.image, "sh", "-c", "sleep 0.5; echo late; exit 4")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.waitState("fg", "running")
	cmd.Process.Kill()
	cmd.Wait()
	if got := strings.TrimSpace(e.ok("wait", "fg")); got != "4" {
		t.Errorf("wait: %q", got)
	}
	if logs := e.ok("logs", "fg"); logs != "late\n" {
		t.Errorf("logs: %q", logs)
	}
}

func TestEngineReboot(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "always", "--restart", "always", e.image, "sleep", "1000")
	e.runDetached("--name", "once", e.image, "sleep", "1000")
	// A reboot: every process gone, the runroot (tmpfs) empty.
	for _, name := range []string{"always", "once"} {
		pid, _ := strconv.Atoi(e.inspect(name, "{{.State.Pid}}"))
		syscall.Kill(e.monitorPid(name), syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	e.unmountAll(e.runroot)
	if err := os.RemoveAll(e.runroot); err != nil {
		t.Fatal(err)
	}
	ps := e.ok("ps", "-a", "--format", "{{.Names}} {{.State}}")
	if !strings.Contains(ps, "always exited") || !strings.Contains(ps, "once exited") {
		t.Fatalf("after the reboot:\n%s", ps)
	}
	e.ok("start", "--all")
	if got := e.inspect("always", "{{.State.Status}}"); got != "running" {
		t.Errorf("--restart always after start --all: %q", got)
	}
	if got := e.inspect("once", "{{.State.Status}}"); got != "exited" {
		t.Errorf("a container without a restart policy came back: %q", got)
	}
}

func TestEngineRestartPolicy(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "flaky", "--restart", "on-failure:2", e.image, "sh", "-c", "exit 3")
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := e.inspect("flaky", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}")
		if st == "exited 2 3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("on-failure:2: %q", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.runDetached("--name", "phoenix", "--restart", "always", e.image, "sleep", "1000")
	pid1 := e.inspect("phoenix", "{{.State.Pid}}")
	p, _ := strconv.Atoi(pid1)
	syscall.Kill(p, syscall.SIGKILL)
	for deadline = time.Now().Add(30 * time.Second); ; {
		if e.inspect("phoenix", "{{.State.Status}}") == "running" && e.inspect("phoenix", "{{.State.Pid}}") != pid1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("always: not restarted: %s", e.inspect("phoenix", "{{json .State}}"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// stop is final, whatever the policy.
	e.ok("stop", "-t", "0", "phoenix")
	time.Sleep(300 * time.Millisecond)
	if got := e.inspect("phoenix", "{{.State.Status}}"); got != "exited" {
		t.Errorf("after stop: %q", got)
	}
}

func TestEngineFailedStartLeavesNothing(t *testing.T) {
	e := newEngine(t)
	r := e.fails(127, "run", "-d", "--name", "broken", e.image, "no-such-command")
	if !strings.Contains(r.Stderr, "no-such-command") {
		t.Errorf("error: %q", r.Stderr)
	}
	// As Docker: the container exists, created but never started, and
	// holds nothing in the kernel.
	id := e.inspect("broken", "{{.Id}}")
	if got := e.inspect("broken", "{{.State.Status}}"); got != "created" {
		t.Errorf("state %q", got)
	}
	e.assertGone(id)
	e.ok("rm", "broken")
	// With --rm nothing is left at all.
	e.fails(127, "run", "-d", "--rm", e.image, "no-such-command")
	e.fails(127, "run", "--rm", e.image, "no-such-command")
	if ids := e.ids(); len(ids) != 0 {
		t.Errorf("records left: %v", ids)
	}
}

func TestEngineConcurrentRunRm(t *testing.T) {
	e := newEngine(t)
	const n = 100
	ids := e.runParallel(n, func(i int) []string {
		return []string{"run", "-d", "--name", fmt.Sprintf("c%03d", i), e.image, "sleep", "1000"}
	})
	if t.Failed() {
		return
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("ID %s given twice", id)
		}
		seen[id] = true
	}
	if got := strings.Fields(e.ok("ps", "-q", "--no-trunc")); len(got) != n {
		t.Errorf("ps shows %d running containers, want %d", len(got), n)
	}
	e.runParallel(n, func(i int) []string { return []string{"rm", "-f", ids[i]} })
	if got := e.ok("ps", "-aq"); got != "" {
		t.Errorf("ps -a after rm -f of all: %q", got)
	}
	names, _ := os.ReadDir(filepath.Join(e.root, "names"))
	if len(names) != 0 {
		t.Errorf("%d name links left", len(names))
	}
	for _, id := range ids {
		e.assertGone(id)
	}
}

func TestEngineClientKilledAtAnyStep(t *testing.T) {
	// `hutch run -d` SIGKILLed at many points of its work: whatever it
	// left, ps -a stays readable and rm -f finishes it, leaving nothing.
	e := newEngine(t)
	for i, delay := range []time.Duration{0, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 200} {
		cmd := e.command(t.Context(), "run", "-d", "--name", fmt.Sprintf("k%02d", i), "-v", "/anon", e.image, "sleep", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}
	ps := e.run("ps", "-a", "--format", "{{.Names}} {{.State}}")
	if ps.Code != 0 {
		t.Fatalf("ps -a after the kills: %v", ps)
	}
	for _, id := range e.ids() {
		if r := e.run("rm", "-f", "-v", id); r.Code != 0 {
			t.Errorf("rm -f of what a killed run left: %v", r)
		}
		e.assertGone(id)
	}
	if ids := e.ids(); len(ids) != 0 {
		t.Errorf("records left: %v", ids)
	}
	if vs := e.ok("volume", "ls", "-q"); vs != "" {
		t.Errorf("volumes left: %q", vs)
	}
}
