package integration

import (
	"strings"
	"testing"
)

func TestEngineRunForeground(t *testing.T) {
	e := newEngine(t)
	r := e.run("run", "--rm", "--name", "fg", e.image, "sh", "-c", "echo out; echo err >&2; hostname; exit 3")
	if r.Code != 3 {
		t.Fatalf("want the container's exit code 3\n%v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 2 || lines[0] != "out" || len(lines[1]) != 12 {
		t.Errorf("stdout: want out and a 12-character hostname, got %q", r.Stdout)
	}
	if strings.TrimSpace(r.Stderr) != "err" {
		t.Errorf("stderr: %q", r.Stderr)
	}
	if ids := e.ids(); len(ids) != 0 {
		t.Errorf("--rm left %v", ids)
	}
}

func TestEngineRunStdin(t *testing.T) {
	e := newEngine(t)
	r := e.runIn("one\ntwo\n", "run", "--rm", "-i", e.image, "sh", "-c", "cat; echo done")
	if r.Code != 0 || r.Stdout != "one\ntwo\ndone\n" {
		t.Fatalf("%v", r)
	}
	// Without -i the container's stdin is empty.
	r = e.runIn("ignored\n", "run", "--rm", e.image, "cat")
	if r.Code != 0 || r.Stdout != "" {
		t.Fatalf("%v", r)
	}
}

func TestEngineRunExitCodes(t *testing.T) {
	e := newEngine(t)
	e.fails(127, "run", "--rm", e.image, "no-such-command")
	e.fails(126, "run", "--rm", e.image, "/etc/passwd")
	r := e.fails(125, "run", "--rm", "--no-such-flag", e.image, "true")
	if !strings.Contains(r.Stderr, "no-such-flag") {
		t.Errorf("the error does not name the flag: %q", r.Stderr)
	}
	r = e.fails(125, "run", "--rm", "--pull", "never", "no-such-image:1", "true")
	if !strings.Contains(r.Stderr, "no-such-image") {
		t.Errorf("the error does not name the image: %q", r.Stderr)
	}
	e.fails(125, "run", "--rm", "-m", "lots", e.image, "true")
	// The test image has no CMD: a run without a command is refused.
	if r := e.fails(125, "run", "--rm", e.image); !strings.Contains(r.Stderr, "no command") {
		t.Errorf("no command: %q", r.Stderr)
	}
	if ids := e.ids(); len(ids) != 0 {
		t.Errorf("failed runs left records: %v", ids)
	}
	// The container's init killed by a signal: 128+n.
	e.runDetached("--name", "victim", e.image, "sleep", "100")
	e.ok("kill", "victim")
	if got := strings.TrimSpace(e.ok("wait", "victim")); got != "137" {
		t.Errorf("wait after kill: %q", got)
	}
}

func TestEngineDetachedLifecycle(t *testing.T) {
	e := newEngine(t)
	id := e.runDetached("--name", "ticker", e.image, "sh", "-c", "trap 'echo bye; exit 7' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a 64-character ID", id)
	}
	if got := e.inspect("ticker", "{{.State.Status}}"); got != "running" {
		t.Fatalf("state %q", got)
	}
	ps := e.ok("ps")
	if !strings.Contains(ps, id[:12]) || !strings.Contains(ps, "ticker") || !strings.Contains(ps, "Up ") {
		t.Errorf("ps:\n%s", ps)
	}
	if q := strings.TrimSpace(e.ok("ps", "-q", "--no-trunc")); q != id {
		t.Errorf("ps -q --no-trunc: %q", q)
	}
	// Any unique prefix of the ID names the container.
	if got := e.inspect(id[:5], "{{.Name}}"); got != "ticker" {
		t.Errorf("inspect by prefix: %q", got)
	}
	out := e.ok("exec", "ticker", "sh", "-c", "echo in-exec; cat /proc/1/cmdline | tr '\\0' ' '")
	if !strings.HasPrefix(out, "in-exec\nsh -c trap") {
		t.Errorf("exec: %q", out)
	}
	e.fails(3, "exec", "ticker", "sh", "-c", "exit 3")
	e.fails(127, "exec", "ticker", "no-such-command")

	// A name in use is refused, naming the owner.
	r := e.fails(125, "run", "-d", "--name", "ticker", e.image, "true")
	if !strings.Contains(r.Stderr, `"ticker" is already in use`) {
		t.Errorf("name conflict: %q", r.Stderr)
	}
	// rm of a running container needs -f.
	r = e.fails(125, "rm", "ticker")
	if !strings.Contains(r.Stderr, "running") {
		t.Errorf("rm running: %q", r.Stderr)
	}
	e.ok("stop", "ticker")
	if got := e.inspect("ticker", "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 7" {
		t.Errorf("after stop: %q", got)
	}
	logs := e.ok("logs", "ticker")
	if !strings.HasPrefix(logs, "tick 0\ntick 1\n") || !strings.HasSuffix(logs, "bye\n") {
		t.Errorf("logs: %q", logs)
	}
	if tail := e.ok("logs", "--tail", "1", "ticker"); tail != "bye\n" {
		t.Errorf("logs --tail 1: %q", tail)
	}
	if ps := e.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(ps, "ticker Exited (7)") {
		t.Errorf("ps -a: %q", ps)
	}
	e.assertGone(id) // a stopped container holds no mount, cgroup or process
	// It starts again, with its log kept.
	e.ok("start", "ticker")
	e.waitState("ticker", "running")
	e.ok("rm", "-f", "ticker")
	e.assertGone(id)
	e.fails(125, "inspect", "ticker")
}

func TestEngineLogsFollow(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "counter", e.image, "sh", "-c", "for i in 1 2 3 4 5; do echo $i; sleep 0.1; done")
	out := e.ok("logs", "-f", "counter")
	if out != "1\n2\n3\n4\n5\n" {
		t.Errorf("logs -f: %q", out)
	}
	if got := e.ok("wait", "counter"); strings.TrimSpace(got) != "0" {
		t.Errorf("wait: %q", got)
	}
}

func TestEngineAttach(t *testing.T) {
	// A detached -i container (its monitor is the C relay by then): attach
	// sends stdin, gets the output and the exit code; a second container
	// is attached while it prints, without stdin.
	e := newEngine(t)
	e.runDetached("-i", "--name", "reader", e.image, "sh", "-c", "read line; echo got $line; echo oops >&2; exit 6")
	r := e.runIn("hello\n", "attach", "reader")
	if r.Code != 6 || r.Stdout != "got hello\n" || r.Stderr != "oops\n" {
		t.Errorf("attach: %v", r)
	}
	if logs := e.run("logs", "reader"); logs.Stdout != "got hello\n" || logs.Stderr != "oops\n" {
		t.Errorf("logs after attach: %v", logs)
	}
	e.runDetached("--name", "ticker", e.image, "sh", "-c", "sleep 0.5; echo late; exit 2")
	r = e.run("attach", "--no-stdin", "ticker")
	if r.Code != 2 || !strings.Contains(r.Stdout, "late") {
		t.Errorf("attach --no-stdin: %v", r)
	}
	r = e.fails(125, "attach", "ticker")
	if !strings.Contains(r.Stderr, "stopped container") {
		t.Errorf("attach to a stopped container: %q", r.Stderr)
	}
}

func TestEngineImageInUse(t *testing.T) {
	// An image a container was made from survives rmi (without -f) and
	// image prune -a, as with Docker.
	e := newEngine(t)
	e.ok("create", "--name", "user", e.image, "true")
	if r := e.fails(125, "rmi", e.image); !strings.Contains(r.Stderr, `container "user"`) {
		t.Errorf("rmi of an image in use: %q", r.Stderr)
	}
	e.ok("image", "prune", "-a")
	if out := e.ok("images", "-q"); strings.TrimSpace(out) == "" {
		t.Errorf("image prune -a removed the image a container uses")
	}
	e.ok("rm", "user")
	e.ok("image", "prune", "-a")
	if out := e.ok("images", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("image prune -a kept an unused image: %q", out)
	}
}
