package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cgroupFile reads a cgroup file of the container from the host, in the
// v1 controller directory or the v2 one.
func (e *engineT) cgroupFile(id string, v1ctrl, v1file, v2file string) string {
	e.t.Helper()
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup", v1ctrl, "hutch", id, v1file),
		filepath.Join("/sys/fs/cgroup/unified/hutch", id, v2file),
		filepath.Join("/sys/fs/cgroup/hutch", id, v2file),
	} {
		if data, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	e.t.Fatalf("container %s: no cgroup file %s/%s or %s", id, v1ctrl, v1file, v2file)
	return ""
}

func TestEngineResources(t *testing.T) {
	e := newEngine(t)
	id := e.runDetached("--memory", "64m", "--cpus", "0.5", "--pids-limit", "33", "--cpu-shares", "512", e.image, "sleep", "1000")
	if got := e.cgroupFile(id, "memory", "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(64<<20) {
		t.Errorf("memory limit %s", got)
	}
	if got := e.cgroupFile(id, "pids", "pids.max", "pids.max"); got != "33" {
		t.Errorf("pids.max %s", got)
	}
	v1cpu := "cpu"
	if _, err := os.Stat("/sys/fs/cgroup/cpu,cpuacct"); err == nil {
		v1cpu = "cpu,cpuacct"
	}
	quota := e.cgroupFile(id, v1cpu, "cpu.cfs_quota_us", "cpu.max")
	if quota != "50000" && quota != "50000 100000" {
		t.Errorf("cpu quota %s", quota)
	}
	if got := e.inspect(id, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"); got != "67108864 500000000 33" {
		t.Errorf("inspect HostConfig: %q", got)
	}
	e.ok("rm", "-f", id)
	e.assertGone(id)

	// Limits the kernel enforces: a fork loop stops at the pids limit.
	// (busybox sh exits when a fork fails: the loop runs in a child shell
	// and the outer one then execs, which needs no fork.)
	id = e.runDetached("--pids-limit", "10", e.image, "sh", "-c",
		"sh -c 'for i in $(seq 1 30); do sleep 1000 & done' 2>/dev/null; exec sleep 1000")
	// The loop's forks fail once the cgroup holds 10 processes: wait for
	// the kernel's count of refused forks.
	deadline := time.Now().Add(30 * time.Second)
	for e.cgroupFile(id, "pids", "pids.events", "pids.events") == "max 0" {
		if time.Now().After(deadline) {
			t.Fatalf("the fork loop never hit the limit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cur, _ := strconv.Atoi(e.cgroupFile(id, "pids", "pids.current", "pids.current")); cur > 10 {
		t.Errorf("pids.current %d under --pids-limit 10", cur)
	}
	e.ok("rm", "-f", id)

	// Mistakes: clear errors, exit 125, nothing created.
	for _, bad := range [][]string{
		{"--memory", "1k"}, {"--memory", "lots"}, {"--cpus", "-1"}, {"--memory", "64m", "--memory-swap", "32m"},
		{"--ulimit", "nofile=2:1"}, {"--device", "/etc/passwd"}, {"--security-opt", "apparmor"}, {"--security-opt", "bogus=1"},
		{"--restart", "sometimes"}, {"--pid", "bogus"},
	} {
		args := append(append([]string{"run", "--rm"}, bad...), e.image, "true")
		r := e.run(args...)
		if r.Code != 125 || !strings.HasPrefix(r.Stderr, "hutch: ") {
			t.Errorf("%v: want exit 125 and a hutch error\n%v", bad, r)
		}
	}
	if ids := e.ids(); len(ids) != 0 {
		t.Errorf("refused runs left records: %v", ids)
	}
}

func TestEngineOOMKilled(t *testing.T) {
	e := newEngine(t)
	// A memory hog past the limit is killed by the kernel; inspect says so.
	r := e.run("run", "--name", "hog", "--memory", "32m", "--memory-swap", "32m", e.image, "sh", "-c",
		"x=a; while true; do x=$x$x; done")
	if r.Code != 137 {
		t.Errorf("the OOM-killed container's exit code: %v", r)
	}
	if got := e.inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}}"); got != "true 137" {
		t.Errorf("inspect: %q", got)
	}
}

func TestEngineSecurityDefaults(t *testing.T) {
	e := newEngine(t)
	out := e.ok("run", "--rm", e.image, "grep", "-E", "^(CapBnd|Seccomp|NoNewPrivs):", "/proc/self/status")
	// Docker's default capability set, seccomp in filter mode.
	if !strings.Contains(out, "CapBnd:\t00000000a80425fb") {
		t.Errorf("bounding set is not Docker's default:\n%s", out)
	}
	if !strings.Contains(out, "Seccomp:\t2") {
		t.Errorf("no seccomp filter:\n%s", out)
	}
	// --privileged and --cap-drop ALL.
	if out := e.ok("run", "--rm", "--cap-drop", "ALL", e.image, "grep", "CapEff", "/proc/self/status"); !strings.Contains(out, "0000000000000000") {
		t.Errorf("--cap-drop ALL: %s", out)
	}
	if out := e.ok("run", "--rm", "--privileged", e.image, "grep", "Seccomp:", "/proc/self/status"); !strings.Contains(out, "\t0") {
		t.Errorf("--privileged keeps seccomp: %s", out)
	}
	if out := e.ok("run", "--rm", "--security-opt", "no-new-privileges", e.image, "grep", "NoNewPrivs", "/proc/self/status"); !strings.Contains(out, "\t1") {
		t.Errorf("no-new-privileges: %s", out)
	}
	// -u resolves names in the image's /etc/passwd.
	if out := e.ok("run", "--rm", "-u", "nobody", e.image, "id"); !strings.HasPrefix(out, "uid=65534(nobody)") {
		t.Errorf("-u nobody: %s", out)
	}
	r := e.fails(125, "run", "--rm", "-u", "nobody2", e.image, "id")
	if !strings.Contains(r.Stderr, "nobody2") {
		t.Errorf("unknown user: %q", r.Stderr)
	}
	// --init puts a reaper at PID 1.
	if out := e.ok("run", "--rm", "--init", e.image, "cat", "/proc/1/cmdline"); !strings.HasPrefix(out, "/sbin/hutch-init") {
		t.Errorf("--init: %q", out)
	}
}

func TestEngineDevicePermissions(t *testing.T) {
	// --device HOST:CTR:r gives a node that opens for reading only; without
	// permissions it is rwm. (/dev/loop-control: not among the devices
	// every container gets.)
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("needs /dev/loop-control")
	}
	e := newEngine(t)
	r := e.run("run", "--rm", "--device", "/dev/loop-control:/dev/x:r", e.image, "sh", "-c", ": < /dev/x && echo read; : > /dev/x && echo wrote")
	if r.Stdout != "read\n" || !strings.Contains(r.Stderr, "Operation not permitted") {
		t.Errorf("--device ...:r: %v", r)
	}
	if out := e.ok("run", "--rm", "--device", "/dev/loop-control:/dev/x", e.image, "sh", "-c", ": > /dev/x && echo wrote"); out != "wrote\n" {
		t.Errorf("--device without permissions: %q", out)
	}
}
