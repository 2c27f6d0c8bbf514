package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

// cgroupDir returns the host directory of pid's cgroup in the v1
// hierarchy holding controller (read from /proc/PID/cgroup).
func cgroupDir(t *testing.T, pid int, controller string) string {
	t.Helper()
	data := readFile(t, fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
			}
		}
	}
	// cgroup v2: one hierarchy.
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		if strings.HasPrefix(line, "0::") {
			return filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(line, "0::"))
		}
	}
	t.Fatalf("pid %d: no %s cgroup in\n%s", pid, controller, data)
	return ""
}

func cgroupValue(t *testing.T, dir, file string) string {
	t.Helper()
	return strings.TrimSpace(readFile(t, filepath.Join(dir, file)))
}

func requireV1(t *testing.T, controller string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", controller)); err != nil {
		t.Skipf("no cgroup v1 %s hierarchy here", controller)
	}
}

func TestCgroupsMemoryLimitAndUpdate(t *testing.T) {
	requireV1(t, "memory")
	r := newRuntime(t)
	limit := int64(64 << 20)
	b := shBundle(t, "exec sleep 1000", withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}))
	id := newID(t)
	pid := r.startDetached(b, id)
	dir := cgroupDir(t, pid, "memory")
	if !containsComponent(dir, id) {
		t.Errorf("memory cgroup %s is not named after the container", dir)
	}
	if got := cgroupValue(t, dir, "memory.limit_in_bytes"); got != strconv.FormatInt(limit, 10) {
		t.Errorf("memory.limit_in_bytes = %s, want %d", got, limit)
	}
	// The container sees the same limit through its cgroup mount.
	out := r.ok("exec", id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
	if strings.TrimSpace(out) != strconv.FormatInt(limit, 10) {
		t.Errorf("memory limit inside = %q", out)
	}

	r.ok("update", "--memory", strconv.FormatInt(128<<20, 10), id)
	if got := cgroupValue(t, dir, "memory.limit_in_bytes"); got != strconv.FormatInt(128<<20, 10) {
		t.Errorf("after update --memory: memory.limit_in_bytes = %s, want %d", got, 128<<20)
	}
	res := filepath.Join(t.TempDir(), "res.json")
	os.WriteFile(res, []byte(`{"memory": {"limit": 100663296}, "pids": {"limit": 77}}`), 0o644)
	r.ok("update", "-r", res, id)
	if got := cgroupValue(t, dir, "memory.limit_in_bytes"); got != "100663296" {
		t.Errorf("after update -r: memory.limit_in_bytes = %s, want 100663296", got)
	}
	if got := cgroupValue(t, cgroupDir(t, pid, "pids"), "pids.max"); got != "77" {
		t.Errorf("after update -r: pids.max = %s, want 77", got)
	}

	dirs := []string{dir, cgroupDir(t, pid, "pids"), cgroupDir(t, pid, "freezer")}
	r.ok("delete", "--force", id)
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left after delete", d)
		}
	}
	r.assertNothingLeft(id)
}

func TestCgroupsPidsLimit(t *testing.T) {
	requireV1(t, "pids")
	r := newRuntime(t)
	limit := int64(8)
	// The loop's shell dies at the first fork that fails; every
	// successful fork printed a line first.
	b := shBundle(t, `n=$(sh -c 'for i in $(seq 20); do sleep 1000 >/dev/null 2>&1 & echo ok; done' 2>/dev/null | wc -l); echo "forks=$n"`,
		withResources(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}))
	id := newID(t)
	r.create(b, id)
	pid := r.state(id).Pid
	if got := cgroupValue(t, cgroupDir(t, pid, "pids"), "pids.max"); got != "8" {
		t.Errorf("pids.max = %s, want 8", got)
	}
	r.ok("start", id)
	r.waitStatus(id, "stopped")
	out, errOut := r.containerOutput(id)
	var forks int
	if _, err := fmt.Sscanf(strings.TrimSpace(out), "forks=%d", &forks); err != nil {
		t.Fatalf("output %q %q", out, errOut)
	}
	// sh, the $( ) subshell, the inner sh and wc hold 4 of the 8.
	if forks >= 8 || forks < 1 {
		t.Errorf("pids limit 8: %d background processes started, want 1..4:\n%s", forks, out)
	}
	r.ok("delete", id)
	r.assertNothingLeft(id)
}

// TestCgroupsPauseResume: pause freezes a counter loop, resume lets it go
// on.
func TestCgroupsPauseResume(t *testing.T) {
	requireV1(t, "freezer")
	r := newRuntime(t)
	dir := hostDir(t, nil)
	b := shBundle(t, "i=0; while true; do i=$((i+1)); echo $i > /m/count; sleep 0.02; done", withBind(dir, "/m"))
	id := newID(t)
	pid := r.startDetached(b, id)
	count := filepath.Join(dir, "count")
	waitFile(t, count)

	r.ok("pause", id)
	if st := r.state(id); st.Status != "paused" {
		t.Errorf("status after pause: %q", st.Status)
	}
	if got := cgroupValue(t, cgroupDir(t, pid, "freezer"), "freezer.state"); got != "FROZEN" {
		t.Errorf("freezer.state = %s, want FROZEN", got)
	}
	c1 := readFile(t, count)
	// Not a time assertion: a frozen loop makes no progress however long
	// we look; 200 ms are ten turns of the loop.
	time.Sleep(200 * time.Millisecond)
	if c2 := readFile(t, count); c2 != c1 {
		t.Errorf("counter moved while paused: %q -> %q", c1, c2)
	}
	r.fails("pause", id)
	r.fails("exec", id, "true")

	r.ok("resume", id)
	if st := r.state(id); st.Status != "running" {
		t.Errorf("status after resume: %q", st.Status)
	}
	moved := false
	for i := 0; i < 500 && !moved; i++ {
		moved = readFile(t, count) != c1
		waitABit()
	}
	if !moved {
		t.Errorf("counter does not move after resume")
	}
	r.fails("resume", id)

	// A paused container can be killed and deleted.
	r.ok("pause", id)
	r.ok("delete", "--force", id)
	waitPidGone(t, pid)
	r.assertNothingLeft(id)
}

func TestCgroupsEventsStats(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000")
	id := newID(t)
	r.startDetached(b, id)
	out := r.ok("events", "--stats", id)
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Memory struct {
				Usage struct {
					Usage uint64 `json:"usage"`
				} `json:"usage"`
			} `json:"memory"`
			Pids struct {
				Current uint64 `json:"current"`
			} `json:"pids"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("events --stats: not one JSON object: %v\n%s", err, out)
	}
	if ev.Type != "stats" || ev.ID != id {
		t.Errorf("events --stats: type %q id %q\n%s", ev.Type, ev.ID, out)
	}
	if ev.Data.Memory.Usage.Usage == 0 {
		t.Errorf("events --stats: memory usage 0\n%s", out)
	}
	if ev.Data.Pids.Current != 1 {
		t.Errorf("events --stats: pids.current %d, want 1\n%s", ev.Data.Pids.Current, out)
	}
}

// TestCgroupsPath: an absolute linux.cgroupsPath is used as given from
// the root of each hierarchy.
func TestCgroupsPath(t *testing.T) {
	requireV1(t, "memory")
	r := newRuntime(t)
	id := newID(t)
	path := "/hutch-it-" + id
	b := shBundle(t, "exec sleep 1000", testbundle.WithSpec(func(s *specs.Spec) { s.Linux.CgroupsPath = path }))
	pid := r.startDetached(b, id)
	if dir := cgroupDir(t, pid, "memory"); dir != "/sys/fs/cgroup/memory"+path {
		t.Errorf("memory cgroup %s, want /sys/fs/cgroup/memory%s", dir, path)
	}
	r.ok("delete", "--force", id)
	if _, err := os.Stat("/sys/fs/cgroup/memory" + path); err == nil {
		t.Errorf("cgroup %s left after delete", path)
		os.Remove("/sys/fs/cgroup/memory" + path)
	}
}
