package integration

// End-to-end tests of the verbs that act on a living container or on the
// whole store: pause/unpause, restart, rename, top, stats, container
// prune, system df/prune, info and version.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lastCount reads the last number a counter container wrote to its log.
func (e *engineT) lastCount(ref string) int {
	e.t.Helper()
	out := strings.TrimSpace(e.ok("logs", "--tail", "1", ref))
	n, err := strconv.Atoi(out)
	if err != nil {
		e.t.Fatalf("logs --tail 1 %s: %q is not a count", ref, out)
	}
	return n
}

// waitCountAbove polls until the counter's last number is above n.
func (e *engineT) waitCountAbove(ref string, n int) int {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out := strings.TrimSpace(e.ok("logs", "--tail", "1", ref)); out != "" {
			if got, err := strconv.Atoi(out); err == nil && got > n {
				return got
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s: its counter did not pass %d", ref, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freezerState reads the freezer of the container's cgroup: freezer.state
// on cgroup v1 (THAWED, FREEZING, FROZEN), cgroup.freeze on v2 (0, 1).
func freezerState(t *testing.T, id string) string {
	t.Helper()
	dirs := cgroupDirsNamed(id)
	for _, d := range dirs {
		if strings.Contains(d, "/freezer/") {
			b, err := os.ReadFile(filepath.Join(d, "freezer.state"))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(b))
		}
	}
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "cgroup.freeze")); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("no freezer among the cgroups of %s: %v", id, dirs)
	return ""
}

// startedAt reads State.StartedAt.
func (e *engineT) startedAt(ref string) time.Time {
	e.t.Helper()
	s := e.inspect(ref, "{{.State.StartedAt}}")
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		e.t.Fatalf("StartedAt %q: %v", s, err)
	}
	return t
}

const counterScript = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.02; done"

func TestEngineStatePause(t *testing.T) {
	e := newEngine(t)
	id := e.runDetached("--name", "counter", e.image, "sh", "-c", counterScript)
	n := e.waitCountAbove("counter", 0)

	if out := strings.TrimSpace(e.ok("pause", "counter")); out != "counter" {
		t.Errorf("pause printed %q", out)
	}
	if got := e.inspect("counter", "{{.State.Status}} {{.State.Running}} {{.State.Paused}}"); got != "paused true true" {
		t.Errorf("state while paused: %q", got)
	}
	if st := freezerState(t, id); st != "FROZEN" && st != "1" {
		t.Errorf("freezer while paused: %q", st)
	}
	// Frozen: the counter stands still (two reads with a gap between
	// them; the first one is past anything written before the freeze).
	frozen := e.lastCount("counter")
	if frozen < n {
		t.Errorf("counter went back: %d then %d", n, frozen)
	}
	time.Sleep(300 * time.Millisecond)
	if again := e.lastCount("counter"); again != frozen {
		t.Errorf("the counter advanced while paused: %d then %d", frozen, again)
	}
	if ps := e.ok("ps", "--filter", "status=paused", "-q"); !strings.Contains(ps, id[:12]) {
		t.Errorf("ps --filter status=paused: %q", ps)
	}

	// Wrong states are refused with the container's name.
	r := e.fails(125, "pause", "counter")
	if !strings.Contains(r.Stderr, `container "counter" is already paused`) {
		t.Errorf("pause twice: %q", r.Stderr)
	}
	// A start does not thaw it (Docker refuses it; Hutch's start
	// finds it running and does nothing).
	e.run("start", "counter")
	if got := e.inspect("counter", "{{.State.Status}}"); got != "paused" {
		t.Errorf("state after a refused start: %q", got)
	}

	e.ok("unpause", "counter")
	if got := e.inspect("counter", "{{.State.Status}} {{.State.Paused}}"); got != "running false" {
		t.Errorf("state after unpause: %q", got)
	}
	if st := freezerState(t, id); st != "THAWED" && st != "0" {
		t.Errorf("freezer after unpause: %q", st)
	}
	e.waitCountAbove("counter", frozen)
	r = e.fails(125, "unpause", "counter")
	if !strings.Contains(r.Stderr, `container "counter" is not paused`) {
		t.Errorf("unpause of a running container: %q", r.Stderr)
	}
	r = e.fails(125, "pause", "no-such")
	if !strings.Contains(r.Stderr, "no-such") {
		t.Errorf("pause of a missing container: %q", r.Stderr)
	}
	e.fails(125, "unpause", "no-such")

	// A paused container can be killed: it ends (137) and its cgroup goes.
	e.ok("pause", "counter")
	e.ok("kill", "counter")
	e.waitState("counter", "exited")
	if code := e.inspect("counter", "{{.State.ExitCode}}"); code != "137" {
		t.Errorf("exit code after kill of a paused container: %s", code)
	}
	e.assertGone(id)
	r = e.fails(125, "pause", "counter")
	if !strings.Contains(r.Stderr, `container "counter" is not running`) {
		t.Errorf("pause of a stopped container: %q", r.Stderr)
	}

	// A paused container can be stopped.
	e.ok("start", "counter")
	e.waitCountAbove("counter", 0)
	e.ok("pause", "counter")
	e.ok("stop", "-t", "1", "counter")
	if got := e.inspect("counter", "{{.State.Status}}"); got != "exited" {
		t.Errorf("state after stop of a paused container: %q", got)
	}
	e.assertGone(id)

	// A paused container can be removed with -f, and without -f it is
	// refused as a running one.
	id2 := e.runDetached("--name", "frozen", e.image, "sleep", "1000")
	e.ok("pause", "frozen")
	e.fails(125, "rm", "frozen")
	e.ok("rm", "-f", "frozen")
	e.fails(125, "inspect", "frozen")
	e.assertGone(id2)
}

func TestEngineStateRestart(t *testing.T) {
	e := newEngine(t)
	id := e.runDetached("--name", "again", e.image, "sh", "-c", "echo started; exec sleep 1000")
	e.waitState("again", "running")
	started := e.startedAt("again")
	pid := e.inspect("again", "{{.State.Pid}}")
	// sleep as PID 1 ignores SIGTERM: -t 1 kills it after a second.
	if out := strings.TrimSpace(e.ok("restart", "-t", "1", "again")); out != "again" {
		t.Errorf("restart printed %q", out)
	}
	if got := e.inspect("again", "{{.Id}} {{.State.Status}}"); got != id+" running" {
		t.Errorf("after restart: %q, want %s running", got, id)
	}
	if s := e.startedAt("again"); !s.After(started) {
		t.Errorf("StartedAt did not move: %s then %s", started, s)
	}
	if p := e.inspect("again", "{{.State.Pid}}"); p == pid {
		t.Errorf("the same init pid %s after restart", p)
	}
	// The log is kept and goes on.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(e.ok("logs", "again"), "started") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("logs after restart: %q", e.ok("logs", "again"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A stopped container is just started; a paused one restarted.
	e.ok("stop", "-t", "0", "again")
	e.ok("restart", "again")
	e.waitState("again", "running")
	e.ok("pause", "again")
	e.ok("restart", "-t", "0", "again")
	if got := e.inspect("again", "{{.State.Status}}"); got != "running" {
		t.Errorf("restart of a paused container: %q", got)
	}
	// A --rm container is restarted, not removed, and keeps its --rm.
	rm := e.runDetached("--rm", "--name", "ephemeral", e.image, "sleep", "1000")
	e.ok("restart", "-t", "0", "ephemeral")
	if got := e.inspect("ephemeral", "{{.Id}} {{.State.Status}} {{.HostConfig.AutoRemove}}"); got != rm+" running true" {
		t.Errorf("restart of a --rm container: %q", got)
	}
	e.ok("kill", "ephemeral")
	deadline = time.Now().Add(10 * time.Second)
	for e.run("inspect", "ephemeral").Code == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the --rm container was not removed at its end after a restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := e.fails(125, "restart", "no-such")
	if !strings.Contains(r.Stderr, "no-such") {
		t.Errorf("restart of a missing container: %q", r.Stderr)
	}
}

func TestEngineStateRename(t *testing.T) {
	e := newEngine(t)
	id := e.runDetached("--name", "old", e.image, "sleep", "1000")
	e.ok("create", "--name", "other", e.image, "true")

	if out := e.ok("rename", "old", "new"); out != "" {
		t.Errorf("rename printed %q", out)
	}
	if got := e.inspect("new", "{{.Id}} {{.Name}}"); got != id+" new" {
		t.Errorf("inspect new: %q", got)
	}
	r := e.fails(125, "inspect", "old")
	if !strings.Contains(r.Stderr, "old") {
		t.Errorf("inspect of the old name: %q", r.Stderr)
	}
	if _, err := os.Lstat(filepath.Join(e.root, "names", "old")); err == nil {
		t.Errorf("the old name link is still there")
	}
	// The running container answers to its new name.
	if out := strings.TrimSpace(e.ok("exec", "new", "echo", "hi")); out != "hi" {
		t.Errorf("exec by the new name: %q", out)
	}
	if ps := e.ok("ps", "--format", "{{.Names}}"); strings.TrimSpace(ps) != "new" {
		t.Errorf("ps names: %q", ps)
	}

	// A name in use is refused and nothing changes.
	r = e.fails(125, "rename", "new", "other")
	if !strings.Contains(r.Stderr, `"other" is already in use`) {
		t.Errorf("rename to a used name: %q", r.Stderr)
	}
	if got := e.inspect(id, "{{.Name}}"); got != "new" {
		t.Errorf("name after a refused rename: %q", got)
	}
	if got := e.inspect("other", "{{.Name}}"); got != "other" {
		t.Errorf("the other container became %q", got)
	}
	e.fails(125, "rename", "new", "new")
	e.fails(125, "rename", "new", "bad/name")
	e.fails(125, "rename", "no-such", "x")
	e.fails(125, "rename", "new")
	// The old name is free again; an ID prefix renames too.
	e.ok("create", "--name", "old", e.image, "true")
	e.ok("rename", id[:8], "newest")
	if got := e.inspect("newest", "{{.Id}}"); got != id {
		t.Errorf("rename by ID prefix: %q", got)
	}
	e.fails(125, "inspect", "new")

	// Two renames to one name at once: exactly one wins, and the other
	// container keeps its name.
	otherID := e.inspect("other", "{{.Id}}")
	names := map[string]string{id: "newest", otherID: "other"}
	for i := range 5 {
		want := fmt.Sprintf("race%d", i)
		codes := make(chan int, 2)
		for _, ref := range []string{id, otherID} {
			go func() { codes <- e.run("rename", ref, want).Code }()
		}
		if a, b := <-codes, <-codes; a+b != 125 {
			t.Fatalf("round %d: rename exit codes %d and %d, want one 0 and one 125", i, a, b)
		}
		winner := e.inspect(want, "{{.Id}}")
		loser := otherID
		if winner == otherID {
			loser = id
		}
		if got := e.inspect(winner, "{{.Name}}"); got != want {
			t.Errorf("round %d: the winner is named %q", i, got)
		}
		if got := e.inspect(names[loser], "{{.Id}}"); got != loser {
			t.Errorf("round %d: %s leads to %s, want %s", i, names[loser], got, loser)
		}
		e.ok("rename", want, names[winner])
	}
}

func TestEngineStateTop(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "sleeper", e.image, "sh", "-c", "sleep 1001 & exec sleep 1002")
	e.waitState("sleeper", "running")
	deadline := time.Now().Add(10 * time.Second)
	var out string
	for {
		out = e.ok("top", "sleeper")
		if strings.Contains(out, "sleep 1001") && strings.Contains(out, "sleep 1002") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("top: want both sleeps:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if h := strings.Fields(lines[0]); strings.Join(h, " ") != "UID PID PPID C STIME TTY TIME CMD" {
		t.Errorf("top header: %q", lines[0])
	}
	if len(lines) != 3 {
		t.Errorf("top: want the 2 processes of the container, got:\n%s", out)
	}
	// Every row is a process of the container's cgroup.
	id := e.inspect("sleeper", "{{.Id}}")
	inCgroup := map[string]bool{}
	for _, p := range pidsInCgroupNamed(id) {
		inCgroup[strconv.Itoa(p)] = true
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) < 8 || !inCgroup[f[1]] || f[0] != "root" {
			t.Errorf("top row not of the container: %q", l)
		}
	}
	// ps options, as Docker passes them.
	out = e.ok("top", "sleeper", "-o", "pid,comm,args")
	if !strings.HasPrefix(strings.TrimSpace(out), "PID") || !strings.Contains(out, "COMMAND") || strings.Count(out, "sleep 100") != 2 {
		t.Errorf("top -o pid,comm,args:\n%s", out)
	}
	r := e.fails(125, "top", "sleeper", "-o", "comm")
	if !strings.Contains(r.Stderr, "PID") {
		t.Errorf("top without a PID column: %q", r.Stderr)
	}
	e.ok("create", "--name", "idle", e.image, "true")
	r = e.fails(125, "top", "idle")
	if !strings.Contains(r.Stderr, `container "idle" is not running`) {
		t.Errorf("top of a created container: %q", r.Stderr)
	}
}

func TestEngineStateStats(t *testing.T) {
	e := newEngine(t)
	id := e.runDetached("--name", "busy", "--memory", "64m", e.image, "sh", "-c", "sleep 1001 & sleep 1002 & exec sleep 1003")
	e.ok("create", "--name", "idle", e.image, "true")
	// Wait for all three processes.
	deadline := time.Now().Add(10 * time.Second)
	for len(pidsInCgroupNamed(id)) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("pids of the container: %v", pidsInCgroupNamed(id))
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := e.ok("stats", "--no-stream")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("stats --no-stream: want a header and the running container:\n%s", out)
	}
	for _, h := range []string{"CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("stats header lacks %q: %q", h, lines[0])
		}
	}
	f := strings.Fields(lines[1])
	// ID NAME CPU% USAGE / LIMIT MEM% RX / TX READ / WRITE PIDS
	if len(f) != 14 || f[0] != id[:12] || f[1] != "busy" || f[5] != "64MiB" || f[13] != "3" {
		t.Errorf("stats row: %q", lines[1])
	}
	if len(f) > 3 && (f[3] == "0B" || !strings.HasSuffix(f[3], "iB") && !strings.HasSuffix(f[3], "B")) {
		t.Errorf("stats shows no memory in use: %q", lines[1])
	}

	// --format with Docker's fields, and json.
	out = strings.TrimSpace(e.ok("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}} {{.CPUPerc}}", "busy"))
	f = strings.Fields(out)
	if len(f) != 6 || f[0] != "busy" || f[1] != "3" || f[4] != "64MiB" || !strings.HasSuffix(f[5], "%") {
		t.Errorf("stats --format: %q", out)
	}
	var row map[string]string
	if err := json.Unmarshal([]byte(e.ok("stats", "--no-stream", "--format", "json", "busy")), &row); err != nil {
		t.Fatal(err)
	}
	if row["Name"] != "busy" || row["PIDs"] != "3" || row["Container"] != "busy" {
		t.Errorf("stats --format json: %v", row)
	}
	// A named container that does not run shows zeros; -a shows it too.
	out = e.ok("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", "idle")
	if strings.TrimSpace(out) != "idle 0 0B / 0B" {
		t.Errorf("stats of a created container: %q", out)
	}
	if out = e.ok("stats", "--no-stream", "-a", "--format", "{{.Name}}"); out != "busy\nidle\n" {
		t.Errorf("stats -a: %q", out)
	}
	r := e.fails(125, "stats", "--no-stream", "no-such")
	if !strings.Contains(r.Stderr, "no-such") {
		t.Errorf("stats of a missing container: %q", r.Stderr)
	}
}

func TestEngineStatePrune(t *testing.T) {
	e := newEngine(t)
	up := e.runDetached("--name", "up", e.image, "sleep", "1000")
	created := strings.TrimSpace(e.ok("create", "--name", "created", e.image, "true"))
	e.ok("run", "--name", "exited", e.image, "sh", "-c", "echo data > /file")
	exited := e.inspect("exited", "{{.Id}}")
	e.ok("run", "--name", "kept", "--label", "keep=yes", e.image, "true")
	kept := e.inspect("kept", "{{.Id}}")
	paused := e.runDetached("--name", "paused", e.image, "sleep", "1000")
	e.ok("pause", "paused")

	// Without -f and without a terminal to answer, nothing goes.
	e.ok("container", "prune")
	if n := len(e.ids()); n != 5 {
		t.Fatalf("prune without -f removed containers: %d left", n)
	}
	out := e.ok("container", "prune", "-f", "--filter", "label!=keep")
	if !strings.HasPrefix(out, "Deleted Containers:\n") || !strings.Contains(out, created) || !strings.Contains(out, exited) ||
		strings.Contains(out, kept) || strings.Contains(out, up) || strings.Contains(out, paused) {
		t.Errorf("container prune --filter label!=keep:\n%s", out)
	}
	if !strings.Contains(out, "\nTotal reclaimed space: ") || strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("container prune: want the space of the written file reclaimed:\n%s", out)
	}
	got := map[string]bool{}
	for _, id := range e.ids() {
		got[id] = true
	}
	if len(got) != 3 || !got[up] || !got[kept] || !got[paused] {
		t.Errorf("left after prune: %v", e.ids())
	}
	// until= in the past keeps everything; label= selects.
	out = e.ok("container", "prune", "-f", "--filter", "until=2000-01-01T00:00:00")
	if out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune until 2000: %q", out)
	}
	out = e.ok("container", "prune", "--force", "--filter", "label=keep=yes", "--filter", "until="+strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	if !strings.Contains(out, kept) {
		t.Errorf("prune label=keep=yes: %q", out)
	}
	if n := len(e.ids()); n != 2 {
		t.Errorf("running and paused containers were pruned: %d left", n)
	}
	e.fails(125, "container", "prune", "-f", "--filter", "bogus=1")
	e.fails(125, "container", "prune", "-f", "--filter", "until=yesterday")
	// Docker has no top-level prune.
	e.fails(125, "prune", "-f")
}

func TestEngineStateSystem(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "up", e.image, "sleep", "1000")
	e.runDetached("--name", "frozen", e.image, "sleep", "1000")
	e.ok("pause", "frozen")
	e.ok("run", "--name", "done", e.image, "sh", "-c", "head -c 100000 /dev/zero > /blob")

	// system df: 1 image in use; 3 containers, 2 running (paused counts).
	out := e.ok("system", "df", "--format", "{{.Type}}={{.TotalCount}}/{{.Active}}")
	if out != "Images=1/1\nContainers=3/2\nLocal Volumes=0/0\nBuild Cache=0/0\n" {
		t.Errorf("system df --format:\n%s", out)
	}
	out = e.ok("system", "df")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || strings.Join(strings.Fields(lines[0]), " ") != "TYPE TOTAL ACTIVE SIZE RECLAIMABLE" {
		t.Errorf("system df:\n%s", out)
	}
	// The stopped container's file is all the containers hold, and all
	// of it reclaimable.
	if f := strings.Fields(lines[2]); len(f) != 6 || !strings.HasSuffix(f[3], "kB") || f[4] != f[3] || f[5] != "(100%)" {
		t.Errorf("system df: want the stopped container's 100kB reclaimable: %q", lines[2])
	}
	out = e.ok("system", "df", "-v")
	for _, s := range []string{"Images space usage:", "busybox", "Containers space usage:", "done", "frozen", "Local Volumes space usage:", "Build cache usage: 0B"} {
		if !strings.Contains(out, s) {
			t.Errorf("system df -v lacks %q:\n%s", s, out)
		}
	}

	// info: counts and the host.
	out = e.ok("info")
	var u unix.Utsname
	unix.Uname(&u)
	for _, s := range []string{
		"Containers: 3\n", "  Running: 1\n", "  Paused: 1\n", "  Stopped: 1\n", " Images: 1\n",
		" Storage Driver: ", " Cgroup Driver: cgroupfs\n", " Cgroup Version: ",
		" Kernel Version: " + unix.ByteSliceToString(u.Release[:]) + "\n", " Operating System: ",
		" CPUs: " + strconv.Itoa(runtime.NumCPU()) + "\n", " Total Memory: ", "iB\n", " Hutch Root Dir: " + e.root + "\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("info lacks %q:\n%s", s, out)
		}
	}
	if got := strings.TrimSpace(e.ok("info", "--format", "{{.ContainersRunning}} {{.ContainersPaused}} {{.Images}} {{.DockerRootDir}}")); got != "1 1 1 "+e.root {
		t.Errorf("info --format: %q", got)
	}
	if got := strings.TrimSpace(e.ok("system", "info", "--format", "{{.CgroupDriver}}")); got != "cgroupfs" {
		t.Errorf("system info --format: %q", got)
	}
	e.fails(125, "info", "--format", "{{.NoSuchField}}")

	// version.
	out = e.ok("version")
	for _, s := range []string{"Client:\n", " Version:", " Go version:", " Git commit:", " OS/Arch:          " + runtime.GOOS + "/" + runtime.GOARCH, "Server: ", " Engine:", " OCI runtime:", "hutch-runc"} {
		if !strings.Contains(out, s) {
			t.Errorf("version lacks %q:\n%s", s, out)
		}
	}
	if got := strings.TrimSpace(e.ok("version", "--format", "{{.Client.Os}}/{{.Server.Arch}}")); got != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version --format: %q", got)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(e.ok("version", "--format", "json")), &v); err != nil || v["Client"] == nil || v["Server"] == nil {
		t.Errorf("version --format json: %v %v", v, err)
	}

	// system prune: the stopped container goes; the image stays while
	// containers use it, even with -a.
	done := e.inspect("done", "{{.Id}}")
	e.ok("system", "prune") // no terminal to say yes: nothing
	if n := len(e.ids()); n != 3 {
		t.Fatalf("system prune without -f removed containers: %d left", n)
	}
	out = e.ok("system", "prune", "-a", "-f")
	if !strings.Contains(out, "Deleted Containers:\n"+done+"\n") || strings.Contains(out, "Deleted Images:") {
		t.Errorf("system prune -a -f with containers running:\n%s", out)
	}
	e.ok("image", "inspect", e.image)
	// Once no container uses it, -a removes the image and its layers.
	e.ok("rm", "-f", "up", "frozen")
	out = e.ok("system", "prune", "-f")
	if strings.Contains(out, "Deleted Images:") {
		t.Errorf("system prune without -a removed a named image:\n%s", out)
	}
	out = e.ok("system", "prune", "--all", "--force", "--volumes")
	if !strings.Contains(out, "Deleted Images:\nuntagged: busybox:test\ndeleted: sha256:") || strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("system prune -a:\n%s", out)
	}
	if out := e.ok("images", "-q"); out != "" {
		t.Errorf("images after system prune -a: %q", out)
	}
	if out := e.ok("system", "df", "--format", "{{.Type}}={{.TotalCount}} {{.Size}}"); !strings.HasPrefix(out, "Images=0 0B\nContainers=0 0B\n") {
		t.Errorf("system df after prune:\n%s", out)
	}
	// The layer GC ran: no unpacked layer is left.
	for _, d := range []string{"overlay", "native"} {
		ents, _ := os.ReadDir(filepath.Join(e.root, d, "snapshots"))
		if len(ents) > 0 {
			t.Errorf("%s snapshots left after system prune -a: %d", d, len(ents))
		}
	}
}
