package integration

// End-to-end cgroup tests: each one makes the kernel enforce a limit for
// real through hutch-runc and reads the result from the container's cgroup
// files. They run on every layout: on our hybrid machines (v1 controllers,
// hugetlb alone on cgroup2) with `go test ./tests/integration/`, and on pure
// cgroup v2 inside the qemu guest of tests/cgroup2/run.sh (`make
// test-cgroup2`), which runs the Test functions of this file. The cgroup
// helper below picks the file of each layout (memory.max or
// memory.limit_in_bytes, cgroup.freeze or freezer.state, ...).
//
// No assertion is on time: every wait polls a visible condition with a
// bound, and "did not move while paused" is measured against a twin loop
// that keeps running.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/internal/testbundle"
)

// --- the container's cgroup, on either layout ---

// cgroupV2 reports whether /sys/fs/cgroup is the unified hierarchy alone
// (pure cgroup v2).
func cgroupV2(t *testing.T) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC
}

// cgMount is one cgroup hierarchy mounted on the host.
type cgMount struct {
	point, root string
	controllers []string // v1 super options: "memory", "name=systemd"; nil for cgroup2
}

// cgroupMounts reads the cgroup and cgroup2 mounts of /proc/self/mountinfo.
func cgroupMounts(t *testing.T) (v1 []cgMount, unified *cgMount) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		m := cgMount{point: a[4], root: a[3]}
		switch b[0] {
		case "cgroup":
			for _, o := range strings.Split(b[2], ",") {
				if o != "rw" && o != "ro" && !strings.HasPrefix(o, "release_agent=") && o != "clone_children" && o != "noprefix" && o != "xattr" {
					m.controllers = append(m.controllers, o)
				}
			}
			v1 = append(v1, m)
		case "cgroup2":
			if unified == nil || m.point == "/sys/fs/cgroup" {
				mm := m
				unified = &mm
			}
		}
	}
	return v1, unified
}

// ctrCgroup is a container's cgroup directories, found from its init's
// /proc/PID/cgroup, with readers that take the file of the host's layout.
type ctrCgroup struct {
	t  *testing.T
	v2 bool
	// dirs maps each v1 controller (and "name=systemd") to the container's
	// directory in its hierarchy; "" is the cgroup2 directory (v2, hybrid).
	dirs map[string]string
	// mounts maps the same keys to the hierarchy's mount point.
	mounts map[string]string
}

// containerCgroup finds pid's cgroups in every hierarchy.
func containerCgroup(t *testing.T, pid int) *ctrCgroup {
	t.Helper()
	v1, unified := cgroupMounts(t)
	cg := &ctrCgroup{t: t, v2: cgroupV2(t), dirs: map[string]string{}, mounts: map[string]string{}}
	data := readFile(t, fmt.Sprintf("/proc/%d/cgroup", pid))
	join := func(m cgMount, p string) string {
		rel, err := filepath.Rel(m.root, p)
		if err != nil || !filepath.IsLocal(rel) && rel != "." {
			t.Fatalf("pid %d: cgroup %s lies outside the mount %s (root %s)", pid, p, m.point, m.root)
		}
		return filepath.Join(m.point, rel)
	}
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			if unified != nil {
				cg.dirs[""] = join(*unified, parts[2])
				cg.mounts[""] = unified.point
			}
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			for _, m := range v1 {
				if slices.Contains(m.controllers, c) {
					cg.dirs[c] = join(m, parts[2])
					cg.mounts[c] = m.point
				}
			}
		}
	}
	if cg.v2 && cg.dirs[""] == "" {
		t.Fatalf("pid %d: no cgroup2 entry in\n%s", pid, data)
	}
	return cg
}

// dir is the directory holding controller's files.
func (c *ctrCgroup) dir(controller string) string {
	c.t.Helper()
	if c.v2 {
		return c.dirs[""]
	}
	d, ok := c.dirs[controller]
	if !ok {
		c.t.Fatalf("no %s cgroup for the container: %v", controller, c.dirs)
	}
	return d
}

// all is every directory of the container's cgroup, one per hierarchy.
func (c *ctrCgroup) all() []string {
	var out []string
	for _, d := range c.dirs {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// read returns the trimmed content of controller's file, v1name or
// v2name by layout.
func (c *ctrCgroup) read(controller, v1name, v2name string) string {
	c.t.Helper()
	name := v1name
	if c.v2 {
		name = v2name
	}
	return strings.TrimSpace(readFile(c.t, filepath.Join(c.dir(controller), name)))
}

// key returns one counter of a flat-keyed file (cpu.stat, memory.events,
// memory.oom_control, pids.events, cgroup.events).
func (c *ctrCgroup) key(controller, v1name, v2name, key string) uint64 {
	c.t.Helper()
	content := c.read(controller, v1name, v2name)
	for _, line := range strings.Split(content, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				c.t.Fatalf("%s: %q: %v", v1name, line, err)
			}
			return n
		}
	}
	c.t.Fatalf("%s cgroup: no %s in %s/%s:\n%s", controller, key, v1name, v2name, content)
	return 0
}

// v1Unlimited is what memory.limit_in_bytes reads without a limit
// (PAGE_COUNTER_MAX pages).
const v1Unlimited = "9223372036854771712"

// memoryLimit is memory.max (v2) or memory.limit_in_bytes (v1): bytes, or
// "max".
func (c *ctrCgroup) memoryLimit() string {
	c.t.Helper()
	v := c.read("memory", "memory.limit_in_bytes", "memory.max")
	if v == v1Unlimited {
		return "max"
	}
	return v
}

// pidsMax is pids.max on both layouts.
func (c *ctrCgroup) pidsMax() string {
	c.t.Helper()
	return c.read("pids", "pids.max", "pids.max")
}

// cpuMax is v2's cpu.max, "QUOTA PERIOD" (QUOTA "max" for none), also
// built from v1's cpu.cfs_quota_us and cpu.cfs_period_us.
func (c *ctrCgroup) cpuMax() string {
	c.t.Helper()
	if c.v2 {
		return c.read("cpu", "", "cpu.max")
	}
	q := c.read("cpu", "cpu.cfs_quota_us", "")
	if q == "-1" {
		q = "max"
	}
	return q + " " + c.read("cpu", "cpu.cfs_period_us", "")
}

// throttled returns cpu.stat's nr_throttled and the throttled time in
// nanoseconds (v1 throttled_time, v2 throttled_usec).
func (c *ctrCgroup) throttled() (n, ns uint64) {
	c.t.Helper()
	n = c.key("cpu", "cpu.stat", "cpu.stat", "nr_throttled")
	if c.v2 {
		return n, c.key("cpu", "", "cpu.stat", "throttled_usec") * 1000
	}
	return n, c.key("cpu", "cpu.stat", "", "throttled_time")
}

// oomKills is the oom_kill counter of memory.events (v2) or
// memory.oom_control (v1).
func (c *ctrCgroup) oomKills() uint64 {
	c.t.Helper()
	return c.key("memory", "memory.oom_control", "memory.events", "oom_kill")
}

// hitMemoryLimit reports whether the cgroup's memory use reached limit:
// v2 counts it in memory.events "max"; v1 shows it in
// memory.max_usage_in_bytes (memory.failcnt and memory.memsw.failcnt
// still read 0 after an OOM kill on the 6.18 kernel of our machines).
func (c *ctrCgroup) hitMemoryLimit(limit int64) bool {
	c.t.Helper()
	if c.v2 {
		return c.key("memory", "", "memory.events", "max") >= 1
	}
	peak, _ := strconv.ParseInt(c.read("memory", "memory.max_usage_in_bytes", ""), 10, 64)
	return peak >= limit
}

// pidsRefused is the "max" counter of pids.events (forks refused at the
// limit), on both layouts.
func (c *ctrCgroup) pidsRefused() uint64 {
	c.t.Helper()
	return c.key("pids", "pids.events", "pids.events", "max")
}

// frozen reports whether the kernel has frozen the cgroup: v1
// freezer.state FROZEN, v2 cgroup.freeze 1 and "frozen 1" in
// cgroup.events.
func (c *ctrCgroup) frozen() bool {
	c.t.Helper()
	if c.v2 {
		return c.read("freezer", "", "cgroup.freeze") == "1" && c.key("freezer", "", "cgroup.events", "frozen") == 1
	}
	return c.read("freezer", "freezer.state", "") == "FROZEN"
}

// thawed reports the opposite state: v1 THAWED, v2 cgroup.freeze 0 and
// "frozen 0".
func (c *ctrCgroup) thawed() bool {
	c.t.Helper()
	if c.v2 {
		return c.read("freezer", "", "cgroup.freeze") == "0" && c.key("freezer", "", "cgroup.events", "frozen") == 0
	}
	return c.read("freezer", "freezer.state", "") == "THAWED"
}

// assertGone checks that every directory of the cgroup was removed.
func (c *ctrCgroup) assertGone() {
	c.t.Helper()
	for _, d := range c.all() {
		if _, err := os.Stat(d); err == nil {
			c.t.Errorf("cgroup %s left after delete", d)
		}
	}
}

// --- `events --stats` ---

// cgStats is the part of `events --stats` these tests read.
type cgStats struct {
	Type string `json:"type"`
	ID   string `json:"id"`
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
				Limit   uint64 `json:"limit"`
				Usage   uint64 `json:"usage"`
				Failcnt uint64 `json:"failcnt"`
			} `json:"usage"`
			OOMKills uint64 `json:"oomKills"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
	} `json:"data"`
}

func (r *runtimeT) stats(id string) cgStats {
	r.t.Helper()
	out := r.ok("events", "--stats", id)
	var s cgStats
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		r.t.Fatalf("events --stats %s: not one JSON object: %v\n%s", id, err, out)
	}
	if s.Type != "stats" || s.ID != id {
		r.t.Errorf("events --stats: type %q id %q, want stats and %s\n%s", s.Type, s.ID, id, out)
	}
	return s
}

// --- small helpers ---

// waitUntil polls cond until it holds, for at most two minutes (the
// emulated guest is slow); the bound guards against hangs and is no
// assertion on speed.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// withCap adds a capability to the bounding, effective and permitted sets.
func withCap(c string) testbundle.Option {
	return testbundle.WithSpec(func(s *specs.Spec) {
		caps := s.Process.Capabilities
		caps.Bounding = append(caps.Bounding, c)
		caps.Effective = append(caps.Effective, c)
		caps.Permitted = append(caps.Permitted, c)
	})
}

func withCgroupsPath(p string) testbundle.Option {
	return testbundle.WithSpec(func(s *specs.Spec) { s.Linux.CgroupsPath = p })
}

// counterLoop counts up in FILE (written whole with mv, so a reader never
// sees it half written), one turn every 20 ms. B is a busybox command
// prefix (empty inside a container, where the applets are on PATH).
func counterLoop(file, b string) string {
	return fmt.Sprintf("i=0; while :; do i=$((i+1)); echo $i >%[1]s.new; %[2]smv %[1]s.new %[1]s; %[2]susleep 20000; done", file, b)
}

// readCount reads a counter file; 0 while it does not exist yet.
func readCount(path string) int {
	data, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return n
}

// --- limits enforced for real ---

// TestCgroupsMemoryOOM: a process touching 64 MiB in a container limited
// to 32 MiB is OOM-killed by the kernel (SIGKILL, exit 137); the cgroup's
// OOM counter moves, `events --stats` reports oomKills and the limit, and
// the container (its shell) keeps running.
func TestCgroupsMemoryOOM(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	limit := int64(32 << 20)
	// dd allocates its 64 MiB block and fills it from /dev/zero.
	b := shBundle(t, "dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd-exit=$?; exec sleep 1000",
		withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}))
	r.create(b, id)
	pid := r.state(id).Pid
	cg := containerCgroup(t, pid)
	if got := cg.memoryLimit(); got != strconv.FormatInt(limit, 10) {
		t.Errorf("memory limit = %s, want %d", got, limit)
	}
	if n := cg.oomKills(); n != 0 {
		t.Errorf("oom_kill = %d before start, want 0", n)
	}
	r.ok("start", id)
	waitUntil(t, "dd to end", func() bool {
		out, _ := r.containerOutput(id)
		return strings.Contains(out, "dd-exit=")
	})
	out, errOut := r.containerOutput(id)
	if !strings.Contains(out, "dd-exit=137") {
		t.Errorf("dd was not SIGKILLed: stdout %q, stderr %q", out, errOut)
	}
	if n := cg.oomKills(); n < 1 {
		t.Errorf("oom_kill = %d after the hog, want >= 1", n)
	}
	if !cg.hitMemoryLimit(limit) {
		t.Errorf("the cgroup does not show its memory use reaching the limit (v2 memory.events max, v1 memory.max_usage_in_bytes)")
	}
	s := r.stats(id)
	if s.Data.Memory.OOMKills < 1 {
		t.Errorf("events --stats memory.oomKills = %d, want >= 1", s.Data.Memory.OOMKills)
	}
	// failcnt is not checked: v1's memory.failcnt and memsw.failcnt read
	// 0 after this OOM kill on our 6.18 kernel (see hitMemoryLimit).
	if s.Data.Memory.Usage.Limit != uint64(limit) || s.Data.Memory.Usage.Usage == 0 {
		t.Errorf("events --stats memory.usage = %+v, want limit %d and usage > 0", s.Data.Memory.Usage, limit)
	}
	if st := r.state(id); st.Status != "running" || st.Pid != pid {
		t.Errorf("container after the OOM kill of a child: %+v, want running with pid %d", st, pid)
	}
	r.ok("delete", "--force", id)
	waitPidGone(t, pid)
	cg.assertGone()
	r.assertNothingLeft(id)
}

// TestCgroupsPidsLimit: a fork loop stops at pids.max, and the kernel
// counts the refused forks.
func TestCgroupsPidsLimit(t *testing.T) {
	r := newRuntime(t)
	limit := int64(8)
	// The loop's shell dies at the first fork that fails; every
	// successful fork printed a line first.
	b := shBundle(t, `n=$(sh -c 'for i in $(seq 20); do sleep 1000 >/dev/null 2>&1 & echo ok; done' 2>/dev/null | wc -l); echo "forks=$n"`,
		withResources(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}))
	id := newID(t)
	r.create(b, id)
	cg := containerCgroup(t, r.state(id).Pid)
	if got := cg.pidsMax(); got != "8" {
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
	if n := cg.pidsRefused(); n < 1 {
		t.Errorf("pids.events max = %d, want >= 1 (a fork refused at the limit)", n)
	}
	r.ok("delete", id)
	cg.assertGone()
	r.assertNothingLeft(id)
}

// TestCgroupsCPUThrottled: a busy loop under a 10% CPU quota is throttled:
// the throttling counters move in cpu.stat and in `events --stats` (read,
// never timed).
func TestCgroupsCPUThrottled(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	b := shBundle(t, "while :; do :; done", withResources(&specs.LinuxResources{
		CPU: &specs.LinuxCPU{Quota: ptr(int64(10000)), Period: ptr(uint64(100000))},
	}))
	pid := r.startDetached(b, id)
	cg := containerCgroup(t, pid)
	if got := cg.cpuMax(); got != "10000 100000" {
		t.Errorf("cpu quota and period = %q, want \"10000 100000\"", got)
	}
	waitUntil(t, "cpu.stat nr_throttled and the throttled time to move", func() bool {
		n, ns := cg.throttled()
		return n > 0 && ns > 0
	})
	th := r.stats(id).Data.CPU.Throttling
	if th.Periods == 0 || th.ThrottledPeriods == 0 || th.ThrottledTime == 0 {
		t.Errorf("events --stats cpu.throttling = %+v, want every counter > 0", th)
	}
	if th.ThrottledPeriods > th.Periods {
		t.Errorf("throttled periods %d > periods %d", th.ThrottledPeriods, th.Periods)
	}
	r.ok("delete", "--force", id)
	waitPidGone(t, pid)
	cg.assertGone()
	r.assertNothingLeft(id)
}

// TestCgroupsDevices: the device rules decide which nodes can be opened
// (v1: devices.allow/deny and devices.list; v2: an eBPF program, and no
// devices.* files). The
// container makes a node for the loop device b 7:0 itself (mknod is
// allowed for every device, as runc does; the kernel still checks open).
func TestCgroupsDevices(t *testing.T) {
	if _, err := os.Stat("/sys/dev/block/7:0"); err != nil {
		t.Skip("no loop device 7:0 (load the loop module)")
	}
	r := newRuntime(t)
	v2 := cgroupV2(t)
	// Each probe prints "NAME=STATUS MESSAGE".
	script := `mknod /dev/blk b 7 0 && echo mknod-ok
head -c1 /dev/blk >/dev/null 2>/dev/err; echo read=$? $(cat /dev/err)
(echo x >/dev/blk) 2>/dev/err; echo write=$? $(cat /dev/err)
echo x >/dev/null && echo null-ok
head -c1 /dev/zero >/dev/null && echo zero-ok`
	// eperm reports whether the probe failed with EPERM.
	eperm := func(out, probe string) bool {
		l := lineWithPrefix(out, probe+"=")
		return l != "" && !strings.HasPrefix(l, probe+"=0") && strings.Contains(l, "Operation not permitted")
	}
	allowed := func(out, probe string) bool { return lineWithPrefix(out, probe+"=") == probe+"=0" }
	has := func(out string, words ...string) bool {
		for _, w := range words {
			if !strings.Contains(out, w) {
				return false
			}
		}
		return true
	}
	// devicesList checks the v1 kernel's list of a started container; on
	// v2 it checks there is no devices.* file: the kernel asks the eBPF
	// program attached to the cgroup.
	devicesList := func(t *testing.T, b *testbundle.Bundle, want, notWant []string) {
		id := newID(t)
		b.Spec.Process.Args = []string{"sleep", "1000"}
		b.Save()
		cg := containerCgroup(t, r.startDetached(b, id))
		defer func() {
			r.ok("delete", "--force", id)
			cg.assertGone()
		}()
		if v2 {
			if m, _ := filepath.Glob(filepath.Join(cg.dir("devices"), "devices.*")); len(m) > 0 {
				t.Errorf("v1 devices files in a v2 cgroup: %v", m)
			}
			return
		}
		list := strings.Split(cg.read("devices", "devices.list", ""), "\n")
		for _, w := range want {
			if !slices.Contains(list, w) {
				t.Errorf("devices.list lacks %q:\n%s", w, strings.Join(list, "\n"))
			}
		}
		for _, w := range notWant {
			if slices.Contains(list, w) {
				t.Errorf("devices.list holds %q:\n%s", w, strings.Join(list, "\n"))
			}
		}
	}

	t.Run("default deny", func(t *testing.T) {
		// The default spec's deny-all rule, then the runtime's own
		// allowances (/dev/null, /dev/zero, ...).
		b := shBundle(t, script, withCap("CAP_MKNOD"))
		res := r.runContainer(b, newID(t))
		if !has(res.Stdout, "mknod-ok", "null-ok", "zero-ok") {
			t.Errorf("want mknod, /dev/null and /dev/zero allowed: %v", res)
		}
		if !eperm(res.Stdout, "read") || !eperm(res.Stdout, "write") {
			t.Errorf("want read and write of b 7:0 denied with EPERM: %v", res)
		}
		devicesList(t, b, []string{"c 1:3 rwm", "b *:* m"}, []string{"a *:* rwm", "b 7:0 rwm", "b 7:0 r"})
	})

	t.Run("read allowed", func(t *testing.T) {
		b := shBundle(t, script, withCap("CAP_MKNOD"), withResources(&specs.LinuxResources{
			Devices: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "b", Major: ptr(int64(7)), Minor: ptr(int64(0)), Access: "r"},
			},
		}))
		res := r.runContainer(b, newID(t))
		if !has(res.Stdout, "mknod-ok", "null-ok", "zero-ok") || !allowed(res.Stdout, "read") {
			t.Errorf("want b 7:0 readable, /dev/null and /dev/zero allowed: %v", res)
		}
		if !eperm(res.Stdout, "write") {
			t.Errorf("want write of b 7:0 denied (the rule grants r only): %v", res)
		}
		devicesList(t, b, []string{"b 7:0 r"}, []string{"a *:* rwm", "b 7:0 rwm"})
	})

	t.Run("allow all but loop", func(t *testing.T) {
		b := shBundle(t, script, withCap("CAP_MKNOD"), withResources(&specs.LinuxResources{
			Devices: []specs.LinuxDeviceCgroup{
				{Allow: true, Access: "rwm"},
				{Allow: false, Type: "b", Major: ptr(int64(7)), Access: "rw"},
			},
		}))
		res := r.runContainer(b, newID(t))
		if !has(res.Stdout, "mknod-ok", "null-ok", "zero-ok") || !eperm(res.Stdout, "read") || !eperm(res.Stdout, "write") {
			t.Errorf("want only read/write of b 7:* denied: %v", res)
		}
		// v1 lists only "a *:* rwm" when the default is allow: the
		// exceptions are not shown.
		devicesList(t, b, []string{"a *:* rwm"}, nil)
	})
}

// TestCgroupsUpdate: `update` changes live limits, and the new memory
// limit is enforced at once: a 64 MiB hog run with exec fits under the
// first limit (128 MiB) and is OOM-killed under the updated one (32 MiB).
// delete removes the cgroup in every hierarchy.
func TestCgroupsUpdate(t *testing.T) {
	r := newRuntime(t)
	limit := int64(128 << 20)
	b := shBundle(t, "exec sleep 1000", withResources(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(50))},
		CPU:    &specs.LinuxCPU{Quota: ptr(int64(50000)), Period: ptr(uint64(100000))},
	}))
	id := newID(t)
	pid := r.startDetached(b, id)
	cg := containerCgroup(t, pid)
	for _, d := range cg.all() {
		if !containsComponent(d, id) {
			t.Errorf("cgroup %s is not named after the container", d)
		}
	}
	check := func(when, mem, pids, cpu string) {
		t.Helper()
		if got := cg.memoryLimit(); got != mem {
			t.Errorf("%s: memory limit = %s, want %s", when, got, mem)
		}
		if got := cg.pidsMax(); got != pids {
			t.Errorf("%s: pids.max = %s, want %s", when, got, pids)
		}
		if got := cg.cpuMax(); got != cpu {
			t.Errorf("%s: cpu quota and period = %q, want %q", when, got, cpu)
		}
	}
	check("at start", "134217728", "50", "50000 100000")
	// The container sees its own limit through its cgroup mount.
	inside := "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	if cg.v2 {
		inside = "/sys/fs/cgroup/memory.max"
	}
	if out := strings.TrimSpace(r.ok("exec", id, "cat", inside)); out != "134217728" {
		t.Errorf("%s inside = %q, want 134217728", inside, out)
	}

	hog := []string{"exec", id, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?"}
	if out := strings.TrimSpace(r.ok(hog...)); out != "rc=0" {
		t.Fatalf("64 MiB under a 128 MiB limit: %q, want rc=0", out)
	}
	if n := cg.oomKills(); n != 0 {
		t.Errorf("oom_kill = %d under the first limit, want 0", n)
	}

	r.ok("update", "--memory", "32m", "--pids-limit", "30", "--cpu-quota", "20000", "--cpu-period", "50000", id)
	check("after update flags", "33554432", "30", "20000 50000")
	if out := strings.TrimSpace(r.ok(hog...)); out != "rc=137" {
		t.Errorf("64 MiB under the updated 32 MiB limit: %q, want rc=137 (OOM-killed)", out)
	}
	if n := cg.oomKills(); n < 1 {
		t.Errorf("oom_kill = %d after the hog under the updated limit, want >= 1", n)
	}
	if st := r.state(id); st.Status != "running" || st.Pid != pid {
		t.Errorf("container after the OOM kill of an exec'd process: %+v", st)
	}

	res := filepath.Join(t.TempDir(), "res.json")
	os.WriteFile(res, []byte(`{"memory": {"limit": 100663296}, "pids": {"limit": 77}, "cpu": {"quota": -1}}`), 0o644)
	r.ok("update", "-r", res, id)
	check("after update -r", "100663296", "77", "max 50000")
	if s := r.stats(id); s.Data.Memory.Usage.Limit != 100663296 || s.Data.Pids.Limit != 77 {
		t.Errorf("events --stats after update: memory limit %d, pids limit %d, want 100663296 and 77",
			s.Data.Memory.Usage.Limit, s.Data.Pids.Limit)
	}

	r.ok("delete", "--force", id)
	waitPidGone(t, pid)
	cg.assertGone()
	r.assertNothingLeft(id)
}

// TestCgroupsPauseResume: pause freezes every process of the container (a
// counter loop stops while a twin loop outside goes on), resume lets it go
// on, and a paused container can be killed and deleted.
func TestCgroupsPauseResume(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, counterLoop("/tmp/count", ""), testbundle.WithWritableRootfs())
	id := newID(t)
	pid := r.startDetached(b, id)
	cg := containerCgroup(t, pid)
	count := func() int { return readCount(b.Path("/tmp/count")) }
	waitUntil(t, "the counter to start", func() bool { return count() > 2 })

	// The twin: the same loop with the bundle's busybox, on the host, so
	// that "the counter did not move" means "while the twin made ten
	// turns" rather than a number of milliseconds.
	twinFile := filepath.Join(t.TempDir(), "twin")
	bb := testbundle.BusyboxPath
	twin := exec.Command(bb, "sh", "-c", counterLoop(twinFile, bb+" "))
	// A group of its own: killing only the shell could leave its mv
	// renaming into the temp dir while the test removes it.
	twin.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := twin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-twin.Process.Pid, syscall.SIGKILL)
		twin.Wait()
		// Let a child the kill caught mid-rename be gone too.
		for i := 0; i < 100 && pidsInGroup(twin.Process.Pid); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	})
	twinCount := func() int { return readCount(twinFile) }
	waitUntil(t, "the twin loop to start", func() bool { return twinCount() > 0 })

	r.ok("pause", id)
	if st := r.state(id); st.Status != "paused" {
		t.Errorf("status after pause: %q", st.Status)
	}
	if !cg.frozen() {
		t.Errorf("the kernel does not report the cgroup frozen after pause")
	}
	c1, t1 := count(), twinCount()
	waitUntil(t, "the twin loop to make ten turns", func() bool { return twinCount() >= t1+10 })
	if c2 := count(); c2 != c1 {
		t.Errorf("counter moved while paused: %d -> %d (the twin made %d turns)", c1, c2, twinCount()-t1)
	}
	if res := r.run("pause", id); res.Code == 0 {
		t.Errorf("pause of a paused container succeeded")
	}
	if res := r.run("exec", id, "true"); res.Code == 0 {
		t.Errorf("exec into a paused container succeeded")
	}

	r.ok("resume", id)
	if st := r.state(id); st.Status != "running" {
		t.Errorf("status after resume: %q", st.Status)
	}
	if !cg.thawed() {
		t.Errorf("the kernel does not report the cgroup thawed after resume")
	}
	waitUntil(t, "the counter to go on after resume", func() bool { return count() > c1+2 })
	if res := r.run("resume", id); res.Code == 0 {
		t.Errorf("resume of a running container succeeded")
	}

	// A paused container can be killed and deleted.
	r.ok("pause", id)
	r.ok("kill", id, "KILL")
	r.ok("delete", "--force", id)
	waitPidGone(t, pid)
	cg.assertGone()
	r.assertNothingLeft(id)
}

// TestCgroupsTinyLimitsStillStart: the runtime's own footprint in the
// container's cgroup is tiny: pids.max=1 (the container process alone)
// and 2 MiB of memory still run a container.
func TestCgroupsTinyLimitsStillStart(t *testing.T) {
	r := newRuntime(t)

	t.Run("pids.max=1", func(t *testing.T) {
		b := testbundle.New(t, testbundle.WithArgs("echo", "hello"),
			withResources(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(1))}}))
		id := newID(t)
		res := r.runContainer(b, id)
		if res.Code != 0 || strings.TrimSpace(res.Stdout) != "hello" {
			t.Fatalf("container with pids.max 1: %v", res)
		}
		r.assertNothingLeft(id)
	})

	t.Run("pids.max=1 forbids a fork", func(t *testing.T) {
		b := shBundle(t, "echo started; if /bin/true; then echo forked; fi",
			withResources(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(1))}}))
		res := r.runContainer(b, newID(t))
		if !strings.Contains(res.Stdout, "started") || strings.Contains(res.Stdout, "forked") {
			t.Fatalf("pids.max 1: want the shell to start and its fork to fail: %v", res)
		}
	})

	t.Run("memory 2 MiB", func(t *testing.T) {
		b := testbundle.New(t, testbundle.WithArgs("echo", "hello"),
			withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{
				Limit: ptr(int64(2 << 20)), Swap: ptr(int64(2 << 20)),
			}}))
		id := newID(t)
		res := r.runContainer(b, id)
		if res.Code != 0 || strings.TrimSpace(res.Stdout) != "hello" {
			t.Fatalf("container with a 2 MiB memory limit: %v", res)
		}
		r.assertNothingLeft(id)
	})

	// Below even the init's footprint, create fails naming the limit
	// (v1 refuses to set it, v2 OOM-kills the init) and leaves nothing.
	t.Run("memory 128 KiB", func(t *testing.T) {
		b := testbundle.New(t, testbundle.WithArgs("echo", "hello"),
			withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{
				Limit: ptr(int64(128 << 10)), Swap: ptr(int64(128 << 10)),
			}}))
		id := newID(t)
		res := r.runContainer(b, id)
		if res.Code == 0 || !(strings.Contains(res.Stderr, "killed by the OOM killer") && strings.Contains(res.Stderr, "memory.limit 131072 bytes is too low") ||
			strings.Contains(res.Stderr, `memory.limit_in_bytes "131072"`)) {
			t.Fatalf("container with a 128 KiB memory limit: want an error naming the limit: %v", res)
		}
		r.assertNothingLeft(id)
	})

	// The init (C, no Go runtime) is charged well under 1 MiB while it
	// waits for start: all of a small limit is left to the container.
	t.Run("init footprint", func(t *testing.T) {
		b := testbundle.New(t, testbundle.WithArgs("echo", "hello"),
			withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}}))
		id := newID(t)
		r.create(b, id)
		t.Cleanup(func() { r.run("delete", "--force", id) })
		if u := r.stats(id).Data.Memory.Usage.Usage; u == 0 || u >= 1<<20 {
			t.Errorf("memory charged to a created container's cgroup: %d bytes, want some, under 1 MiB", u)
		}
	})
}

// TestCgroupsEventsStats: `events --stats` prints one JSON object with the
// container's memory usage and limit and its pids.
func TestCgroupsEventsStats(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000", withResources(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(20))},
	}))
	id := newID(t)
	r.startDetached(b, id)
	s := r.stats(id)
	if s.Data.Memory.Usage.Usage == 0 || s.Data.Memory.Usage.Limit != 64<<20 {
		t.Errorf("events --stats memory = %+v, want usage > 0 and limit 64 MiB", s.Data.Memory.Usage)
	}
	if s.Data.Pids.Current != 1 || s.Data.Pids.Limit != 20 {
		t.Errorf("events --stats pids = %+v, want current 1, limit 20", s.Data.Pids)
	}
	if s.Data.CPU.Usage.Total == 0 {
		t.Errorf("events --stats cpu usage total is 0")
	}
}

// TestCgroupsPath: an absolute linux.cgroupsPath is used as given from the
// root of each hierarchy, and delete removes it.
func TestCgroupsPath(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	path := "/hutch-it-" + id
	b := shBundle(t, "exec sleep 1000", withCgroupsPath(path))
	pid := r.startDetached(b, id)
	cg := containerCgroup(t, pid)
	t.Cleanup(func() {
		for _, d := range cg.all() {
			os.Remove(d) // only if delete failed to
		}
	})
	for key, dir := range cg.dirs {
		if key == "" && !cg.v2 && dir == cg.mounts[key] {
			continue // hybrid: cgroup2 holds no controller for this container
		}
		if want := filepath.Join(cg.mounts[key], path); dir != want {
			t.Errorf("cgroup %q: %s, want %s", key, dir, want)
		}
	}
	if len(cg.dirs) == 0 {
		t.Fatalf("no cgroup found for pid %d", pid)
	}
	t.Logf("cgroups: %v", cg.all())
	r.ok("delete", "--force", id)
	waitPidGone(t, pid)
	cg.assertGone()
	r.assertNothingLeft(id)
}

// --- bad input ---

// TestCgroupsBadInput: each bad linux.resources value or cgroupsPath fails
// create and run with a non-zero exit and one line naming the field, and
// leaves nothing: no state directory, no cgroup named after the container
// (or the path's last component) in any hierarchy, no process.
func TestCgroupsBadInput(t *testing.T) {
	// A cpu number outside this machine.
	badCPU := "99"
	if runtime.NumCPU() > 99 {
		badCPU = "4095"
	}
	type tc struct {
		name string
		// setup returns the name of a cgroup directory that must not
		// appear (besides the container id), or "".
		setup func(b *testbundle.Bundle, id string) string
		want  []string
	}
	res := func(f func(r *specs.LinuxResources)) func(*testbundle.Bundle, string) string {
		return func(b *testbundle.Bundle, _ string) string {
			if b.Spec.Linux.Resources == nil {
				b.Spec.Linux.Resources = &specs.LinuxResources{}
			}
			f(b.Spec.Linux.Resources)
			b.Save()
			return ""
		}
	}
	// rawJSON sets a field of config.json to a value of the wrong type.
	rawJSON := func(value any, keys ...string) func(*testbundle.Bundle, string) string {
		return func(b *testbundle.Bundle, _ string) string {
			path := filepath.Join(b.Dir, "config.json")
			var cfg map[string]any
			if err := json.Unmarshal([]byte(readFile(t, path)), &cfg); err != nil {
				t.Fatal(err)
			}
			m := cfg
			for _, k := range keys[:len(keys)-1] {
				next, ok := m[k].(map[string]any)
				if !ok {
					next = map[string]any{}
					m[k] = next
				}
				m = next
			}
			m[keys[len(keys)-1]] = value
			data, _ := json.Marshal(cfg)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}
	}
	cgPath := func(format string) func(*testbundle.Bundle, string) string {
		return func(b *testbundle.Bundle, id string) string {
			name := "escape-" + id
			b.Spec.Linux.CgroupsPath = fmt.Sprintf(format, name)
			b.Save()
			return name
		}
	}
	for _, c := range []tc{
		{"pids limit negative", res(func(r *specs.LinuxResources) { r.Pids = &specs.LinuxPids{Limit: ptr(int64(-5))} }),
			[]string{"pids.limit", "-5"}},
		{"pids limit not a number", rawJSON("lots", "linux", "resources", "pids", "limit"),
			[]string{"pids.limit"}},
		{"memory limit negative", res(func(r *specs.LinuxResources) { r.Memory = &specs.LinuxMemory{Limit: ptr(int64(-2))} }),
			[]string{"memory.limit", "-2"}},
		{"memory limit not a number", rawJSON("32m", "linux", "resources", "memory", "limit"),
			[]string{"memory.limit"}},
		{"cpu quota below 1000", res(func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Quota: ptr(int64(500))} }),
			[]string{"cpu.quota", "500"}},
		{"cpuset outside the machine", res(func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Cpus: badCPU} }),
			[]string{"cpu.cpus", badCPU}},
		{"device rule type x", res(func(r *specs.LinuxResources) {
			r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "x", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"})
		}), []string{"devices[1].type", `"x"`}},
		{"absolute cgroupsPath leaving the root", cgPath("/../../%s"), []string{"cgroupsPath", "/../../escape-"}},
		{"relative cgroupsPath leaving the root", cgPath("../../%s"), []string{"cgroupsPath", "../../escape-"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRuntime(t)
			b := shBundle(t, "echo RAN")
			id := newID(t)
			other := c.setup(b, id)
			check := func(res result) {
				t.Helper()
				assertOneLineError(t, res, c.want...)
				t.Logf("%s: %s", res.Args[0], strings.TrimSpace(res.Stderr))
				if strings.Contains(res.Stdout, "RAN") {
					t.Errorf("the container's process ran")
				}
				r.assertNothingLeft(id)
				if other != "" {
					if dirs := cgroupDirsNamed(other); len(dirs) > 0 {
						t.Errorf("cgroup directories left behind: %v", dirs)
						for _, d := range dirs {
							os.Remove(d)
						}
					}
				}
			}
			check(r.tryCreate(b, id))
			check(r.runContainer(b, id))
		})
	}
}

// TestCgroupsUpdateBadInput: a refused update (a negative, unparsable or
// out-of-range value) exits non-zero with one line naming the setting, and
// the live limits stay as they were.
func TestCgroupsUpdateBadInput(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000", withResources(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(20))},
		CPU:    &specs.LinuxCPU{Quota: ptr(int64(50000)), Period: ptr(uint64(100000))},
	}))
	id := newID(t)
	pid := r.startDetached(b, id)
	cg := containerCgroup(t, pid)
	badCPU := "99"
	if runtime.NumCPU() > 99 {
		badCPU = "4095"
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--pids-limit", "-5"}, []string{"pids", "-5"}},
		{[]string{"--pids-limit", "lots"}, []string{"pids", "lots"}},
		{[]string{"--memory", "-2"}, []string{"memory", "-2"}},
		{[]string{"--memory", "12xyz"}, []string{"memory", "12xyz"}},
		{[]string{"--cpu-quota", "500"}, []string{"quota", "500"}},
		{[]string{"--cpuset-cpus", badCPU}, []string{"cpus", badCPU}},
	} {
		res := r.run(append(append([]string{"update"}, c.args...), id)...)
		assertOneLineError(t, res, c.want...)
		t.Logf("update %v: %s", c.args, strings.TrimSpace(res.Stderr))
		if st := r.state(id); st.Status != "running" || st.Pid != pid {
			t.Errorf("container after a refused update %v: %+v", c.args, st)
		}
	}
	if got := cg.memoryLimit(); got != "67108864" {
		t.Errorf("memory limit = %s after refused updates, want 67108864", got)
	}
	if got := cg.pidsMax(); got != "20" {
		t.Errorf("pids.max = %s after refused updates, want 20", got)
	}
	if got := cg.cpuMax(); got != "50000 100000" {
		t.Errorf("cpu quota and period = %q after refused updates, want \"50000 100000\"", got)
	}
}

// TestCgroupsDelegatedToUserns: a container with its own user namespace
// gets its cgroup v2 directory (and cgroup.procs, cgroup.threads,
// cgroup.subtree_control) owned by its root, as cgroup v2 delegation
// describes; the files that set limits stay the host's.
func TestCgroupsDelegatedToUserns(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000", testbundle.WithUserNamespace(usernsHostID, usernsSize),
		withResources(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(20))}}))
	id := newID(t)
	pid := r.startDetached(b, id)
	cg := containerCgroup(t, pid)
	dir := cg.dirs[""]
	if dir == "" {
		t.Skip("no cgroup2 hierarchy on this host")
	}
	owner := func(path string) uint32 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Uid
	}
	for _, name := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if got := owner(filepath.Join(dir, name)); got != usernsHostID {
			t.Errorf("%s is owned by uid %d, want the container's root %d", filepath.Join(dir, name), got, usernsHostID)
		}
	}
	if cg.v2 {
		if got := owner(filepath.Join(dir, "pids.max")); got != 0 {
			t.Errorf("pids.max is owned by uid %d: the container could raise its own limit", got)
		}
	}
	r.ok("delete", "--force", id)
	r.assertNothingLeft(id)
}

// pidsInGroup tells whether any process is left in process group pgid.
func pidsInGroup(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}
