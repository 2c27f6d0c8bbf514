package integration

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"hutch.dev/hutch/internal/testbundle"
)

// TestSignalsRunForwards: `run` in the foreground passes the signals it
// gets to the container's process, which traps them.
func TestSignalsRunForwards(t *testing.T) {
	r := newRuntime(t)
	dir := hostDir(t, nil)
	b := shBundle(t, `trap 'echo got-USR1 >> /m/marker' USR1
trap 'echo got-TERM >> /m/marker; exit 0' TERM
echo ready > /m/ready
while true; do sleep 0.1; done`, withBind(dir, "/m"))
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
	waitFile(t, filepath.Join(dir, "ready"))

	cmd.Process.Signal(syscall.SIGUSR1)
	marker := filepath.Join(dir, "marker")
	if got := waitFile(t, marker); got != "got-USR1\n" {
		t.Errorf("after SIGUSR1 to run: marker %q", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if err != nil {
		t.Errorf("run after SIGTERM: %v (the trap exits 0)\nstderr: %s", err, stderr.String())
	}
	if got := readFile(t, marker); got != "got-USR1\ngot-TERM\n" {
		t.Errorf("marker %q, want got-USR1 then got-TERM", got)
	}
	r.assertNothingLeft(id)
}

// TestSignalsKillCreated: a created container (its init still waiting for
// start) can be killed, and then deleted.
func TestSignalsKillCreated(t *testing.T) {
	r := newRuntime(t)
	for _, sig := range []string{"KILL", "TERM"} {
		t.Run(sig, func(t *testing.T) {
			b := shBundle(t, "echo RAN")
			id := newID(t)
			r.create(b, id)
			pid := r.state(id).Pid
			r.ok("kill", id, sig)
			r.waitStatus(id, "stopped")
			waitPidGone(t, pid)
			if out, _ := r.containerOutput(id); strings.Contains(out, "RAN") {
				t.Errorf("the process of a killed created container ran")
			}
			// start of a stopped container fails.
			r.fails("start", id)
			res := r.fails("kill", id, "KILL")
			assertOneLineError(t, res, id)
			r.ok("delete", id)
			r.assertNothingLeft(id)
		})
	}
}

// TestSignalsDispositionsReset: the container's process starts with the
// default action for every signal, even those its runtime's caller ignored
// (as a shell ignores SIGQUIT for a background job): the init, which
// catches them while it sets up, leaves nothing of its own behind.
func TestSignalsDispositionsReset(t *testing.T) {
	r := newRuntime(t)
	r.wrap = []string{"sh", "-c", `trap "" QUIT TERM USR1 PIPE; exec "$0" "$@"`}
	b := testbundle.New(t, testbundle.WithArgs("cat", "/proc/self/status"))
	out := r.output(b, newID(t))
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "SigIgn:") || strings.HasPrefix(line, "SigBlk:") || strings.HasPrefix(line, "SigCgt:") {
			if v := strings.TrimSpace(line[7:]); strings.Trim(v, "0") != "" {
				t.Errorf("container process %s, want no signal ignored, blocked or caught", line)
			}
		}
	}
	if !strings.Contains(out, "SigIgn:") {
		t.Fatalf("no SigIgn in the container's /proc/self/status:\n%s", out)
	}
}
