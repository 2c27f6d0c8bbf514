package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

// execTarget starts a long-running container and returns its id and
// init pid.
func execTarget(t *testing.T, r *runtimeT, opts ...testbundle.Option) (string, int) {
	t.Helper()
	b := shBundle(t, "exec sleep 1000", append([]testbundle.Option{testbundle.WithHostname("exec-host"),
		testbundle.WithEnv("FROMSPEC=yes")}, opts...)...)
	id := newID(t)
	return id, r.startDetached(b, id)
}

func nsOf(t *testing.T, pid int, typ string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, typ))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestExecSeesTheContainer(t *testing.T) {
	r := newRuntime(t)
	id, pid := execTarget(t, r, testbundle.WithMount(specs.Mount{Destination: "/mnt/only-here", Type: "tmpfs", Source: "tmpfs"}))
	out := r.ok("exec", id, "sh", "-c",
		"hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; for n in mnt pid net uts ipc cgroup; do readlink /proc/self/ns/$n; done; grep -c ' /mnt/only-here ' /proc/self/mountinfo; cut -d: -f3 /proc/self/cgroup | sort -u; echo FROMSPEC=$FROMSPEC")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 11 {
		t.Fatalf("exec output:\n%s", out)
	}
	if lines[0] != "exec-host" {
		t.Errorf("hostname in exec = %q", lines[0])
	}
	if lines[1] != "sleep 1000 " {
		t.Errorf("PID 1 seen from exec = %q, want the container's sleep", lines[1])
	}
	for i, typ := range []string{"mnt", "pid", "net", "uts", "ipc", "cgroup"} {
		if want := nsOf(t, pid, typ); lines[2+i] != want {
			t.Errorf("exec %s ns = %s, container's %s", typ, lines[2+i], want)
		}
	}
	if lines[8] != "1" {
		t.Errorf("exec does not see the container's mount: %q", lines[8])
	}
	if lines[9] != "/" {
		t.Errorf("exec's cgroups (in the container's cgroup ns): %q, want /", lines[9])
	}
	if lines[10] != "FROMSPEC=yes" {
		t.Errorf("exec does not get the spec's env: %q", lines[10])
	}
}

func TestExecExitCodeAndStdio(t *testing.T) {
	r := newRuntime(t)
	id, _ := execTarget(t, r)
	for _, code := range []int{0, 1, 42} {
		res := r.run("exec", id, "sh", "-c", fmt.Sprintf("exit %d", code))
		if res.Code != code {
			t.Errorf("exec exit %d: got %d (%s)", code, res.Code, res.Stderr)
		}
	}
	res := r.runIn("hello from stdin\n", "exec", id, "sh", "-c", "cat; echo to-stderr >&2")
	if res.Code != 0 || res.Stdout != "hello from stdin\n" || res.Stderr != "to-stderr\n" {
		t.Errorf("exec stdio: %v", res)
	}
	res = r.run("exec", id, "/does/not/exist")
	if res.Code == 0 {
		t.Errorf("exec of a missing binary succeeded")
	} else if !strings.Contains(res.Stderr, "/does/not/exist") {
		t.Errorf("exec of a missing binary: %q does not name it", res.Stderr)
	}
	if st := r.state(id); st.Status != "running" {
		t.Errorf("container after execs: %q", st.Status)
	}
}

func TestExecFlags(t *testing.T) {
	r := newRuntime(t)
	id, _ := execTarget(t, r)
	out := r.ok("exec", "--env", "FOO=bar", "-e", "FROMSPEC=overridden", "--cwd", "/tmp", "--user", "1000:100",
		id, "sh", "-c", "echo $FOO $FROMSPEC; pwd; id -u; id -g")
	if out != "bar overridden\n/tmp\n1000\n100\n" {
		t.Errorf("exec --env --cwd --user:\n%q", out)
	}
	out = r.ok("exec", "--user", "1000", "--additional-gids", "5", id, "sh", "-c", "id -u; grep Groups /proc/self/status")
	if out != "1000\nGroups:\t5 \n" {
		t.Errorf("exec --user 1000 --additional-gids 5: %q", out)
	}
	out = r.ok("exec", "--no-new-privs", id, "grep", "NoNewPrivs", "/proc/self/status")
	if f := strings.Fields(out); len(f) != 2 || f[1] != "1" {
		t.Errorf("exec --no-new-privs: %q", out)
	}
	out = r.ok("exec", "--cap", "CAP_SYS_ADMIN", id, "grep", "CapEff", "/proc/self/status")
	if f := strings.Fields(out); len(f) != 2 {
		t.Errorf("exec --cap: %q", out)
	} else if v, _ := strconv.ParseUint(f[1], 16, 64); v&(1<<21) == 0 {
		t.Errorf("exec --cap CAP_SYS_ADMIN: CapEff %s lacks it", f[1])
	}
}

func TestExecProcessFile(t *testing.T) {
	r := newRuntime(t)
	id, _ := execTarget(t, r)
	p := specs.Process{
		Args:            []string{"sh", "-c", "echo $A; pwd; id -u; grep NoNewPrivs /proc/self/status"},
		Env:             []string{"PATH=/bin:/usr/bin", "A=from-process-file"},
		Cwd:             "/home/test",
		User:            specs.User{UID: 1000, GID: 1000},
		NoNewPrivileges: true,
	}
	data, _ := json.Marshal(p)
	file := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(file, data, 0o644)
	out := r.ok("exec", "--process", file, id)
	want := "from-process-file\n/home/test\n1000\nNoNewPrivs:\t1\n"
	if out != want {
		t.Errorf("exec --process:\n%q\nwant\n%q", out, want)
	}
	os.WriteFile(file, []byte("{not json"), 0o644)
	res := r.fails("exec", "--process", file, id)
	assertOneLineError(t, res, "process")
}

func TestExecDetachPidFile(t *testing.T) {
	r := newRuntime(t)
	id, initPid := execTarget(t, r)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	res := r.runFiles(id+"-exec", "exec", "--detach", "--pid-file", pidFile, id, "sleep", "999")
	if res.Code != 0 {
		t.Fatalf("exec --detach: %v", res)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("exec --pid-file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !pidAlive(pid) {
		t.Fatalf("exec --pid-file holds %q: not a live process", data)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if string(cmdline) != "sleep\x00999\x00" {
		t.Errorf("pid %d from the pid file runs %q, want sleep 999", pid, cmdline)
	}
	for _, typ := range []string{"pid", "mnt", "net"} {
		if nsOf(t, pid, typ) != nsOf(t, initPid, typ) {
			t.Errorf("detached exec: not in the container's %s ns", typ)
		}
	}
	if got, want := readFile(t, fmt.Sprintf("/proc/%d/cgroup", pid)), readFile(t, fmt.Sprintf("/proc/%d/cgroup", initPid)); got != want {
		t.Errorf("detached exec cgroups:\n%s\ncontainer's:\n%s", got, want)
	}
	pids := waitProcs(t, r, id, 2)
	if indexOf(itoa(pids), strconv.Itoa(pid)) < 0 {
		t.Errorf("ps %v does not list the exec'd %d", pids, pid)
	}
	// delete --force takes the exec'd process with it.
	r.ok("delete", "--force", id)
	waitPidGone(t, pid)
	r.assertNothingLeft(id)
}

func itoa(ns []int) []string {
	var s []string
	for _, n := range ns {
		s = append(s, strconv.Itoa(n))
	}
	return s
}

func TestExecStoppedContainer(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "true")
	id := newID(t)
	r.create(b, id)
	r.ok("start", id)
	r.waitStatus(id, "stopped")
	res := r.fails("exec", id, "true")
	assertOneLineError(t, res, id)
	if !strings.Contains(res.Stderr, "stopped") && !strings.Contains(res.Stderr, "not running") {
		t.Errorf("exec into a stopped container: %q, want it to say the container is not running", res.Stderr)
	}
	res = r.fails("exec", "no-such-container-"+id, "true")
	assertOneLineError(t, res, "does not exist")
}

// TestExecRacesDeleteForce: execs started while `delete --force` removes
// the container each end, with the process's status or an error, and
// never wait for ever. delete --force kills whatever is in the container's
// cgroup, and an exec's child is put there before it joins the
// namespaces: the runtime once kept its own copy of that child's socket
// end and then waited for a line that could never come.
func TestExecRacesDeleteForce(t *testing.T) {
	r := newRuntime(t)
	for round := 0; round < 5; round++ {
		id, _ := execTarget(t, r)
		var wg sync.WaitGroup
		stuck := make(chan string, 16)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 40; i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					out, _ := r.command(ctx, "exec", id, "true").CombinedOutput()
					timedOut := ctx.Err() != nil
					cancel()
					if timedOut {
						stuck <- fmt.Sprintf("exec %s did not end: %s", id, out)
						return
					}
					if strings.Contains(string(out), "does not exist") {
						return // the container is gone: the race is over
					}
				}
			}()
		}
		time.Sleep(time.Duration(round*7) * time.Millisecond)
		r.ok("delete", "--force", id)
		wg.Wait()
		close(stuck)
		for msg := range stuck {
			t.Error(msg)
		}
		r.assertNothingLeft(id)
	}
}
