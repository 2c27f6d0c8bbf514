package cgroup2

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

// TestV2Layout checks the guest is what these tests assume: one cgroup2
// hierarchy with every controller Hutch drives.
func TestV2Layout(t *testing.T) {
	needV2(t)
	have := strings.Fields(cgRead(t, cgroupRoot, "cgroup.controllers"))
	for _, c := range []string{"cpuset", "cpu", "io", "memory", "pids"} {
		if !slices.Contains(have, c) {
			t.Errorf("controller %s missing from %s/cgroup.controllers (%v)", c, cgroupRoot, have)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "cgroup" {
			t.Errorf("a cgroup v1 hierarchy is mounted: %s", line)
		}
	}
}

// TestV2LimitsUpdateStatsDelete runs a container with every common limit,
// reads them back from the v2 files (with the v1→v2 conversions runc and
// crun use), changes some live with `update`, reads them through `events
// --stats`, and checks `delete` removes the cgroup.
func TestV2LimitsUpdateStatsDelete(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{
			Limit:       ptr(int64(64 << 20)),
			Reservation: ptr(int64(32 << 20)),
			Swap:        ptr(int64(96 << 20)), // memory+swap: swap.max is the difference
		},
		CPU: &specs.LinuxCPU{
			Shares: ptr(uint64(512)),
			Quota:  ptr(int64(50000)),
			Period: ptr(uint64(100000)),
			Cpus:   "0",
			Mems:   "0",
		},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(20))},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500))},
		Unified: map[string]string{"memory.high": strconv.Itoa(48 << 20)},
	}
	loop := fileExists("/sys/dev/block/7:0")
	if loop {
		res.BlockIO.ThrottleReadBpsDevice = []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 7, Minor: 0}, Rate: 1 << 20}}
	}
	b := shBundle(t, "echo started; exec sleep 1000", withResources(res))
	pid := r.start(b, id)
	dir := cgroupOf(t, pid)
	if dir == cgroupRoot {
		t.Fatalf("container process %d is in the root cgroup", pid)
	}

	want := map[string]string{
		"memory.max":      "67108864",
		"memory.low":      "33554432",
		"memory.high":     "50331648",
		"cpu.max":         "50000 100000",
		"cpu.weight":      "20", // 1 + (512-2)*9999/262142
		"cpuset.cpus":     "0",
		"cpuset.mems":     "0",
		"pids.max":        "20",
		"memory.swap.max": "33554432",
	}
	if !fileExists(filepath.Join(dir, "memory.swap.max")) {
		delete(want, "memory.swap.max") // no swap accounting in this kernel
	}
	for file, v := range want {
		if got := cgRead(t, dir, file); got != v {
			t.Errorf("%s = %q, want %q", file, got, v)
		}
	}
	if fileExists(filepath.Join(dir, "io.bfq.weight")) {
		if got := cgRead(t, dir, "io.bfq.weight"); !strings.Contains(got, "500") {
			t.Errorf("io.bfq.weight = %q, want 500", got)
		}
	} else if fileExists(filepath.Join(dir, "io.weight")) {
		if got := cgRead(t, dir, "io.weight"); !strings.Contains(got, "default 4950") {
			t.Errorf("io.weight = %q, want default 4950 (1 + (500-10)*9999/990)", got)
		}
	}
	if loop {
		if got := cgRead(t, dir, "io.max"); !strings.Contains(got, "7:0 rbps=1048576 wbps=max riops=max wiops=max") {
			t.Errorf("io.max = %q, want 7:0 rbps=1048576", got)
		}
	}
	// Every enabled controller reaches the container's cgroup.
	ctl := strings.Fields(cgRead(t, dir, "cgroup.controllers"))
	for _, c := range []string{"cpuset", "cpu", "io", "memory", "pids"} {
		if !slices.Contains(ctl, c) {
			t.Errorf("controller %s not enabled for %s (cgroup.controllers %v)", c, dir, ctl)
		}
	}

	// Live update.
	r.ok("update", "--memory", "128m", "--pids-limit", "30", "--cpu-quota", "20000", "--cpu-period", "50000", id)
	for file, v := range map[string]string{
		"memory.max": "134217728", "pids.max": "30", "cpu.max": "20000 50000",
	} {
		if got := cgRead(t, dir, file); got != v {
			t.Errorf("after update: %s = %q, want %q", file, got, v)
		}
	}
	upd, err := os.CreateTemp("", "hutch-cg2-update-*.json")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(upd.Name())
	fmt.Fprint(upd, `{"cpu": {"shares": 1024}, "unified": {"memory.high": "100663296"}}`)
	upd.Close()
	r.ok("update", "--resources", upd.Name(), id)
	if got := cgRead(t, dir, "cpu.weight"); got != "39" {
		t.Errorf("after update --resources: cpu.weight = %q, want 39", got)
	}
	if got := cgRead(t, dir, "memory.high"); got != "100663296" {
		t.Errorf("after update --resources: memory.high = %q, want 100663296", got)
	}

	s := r.stats(id)
	if s.Data.Memory.Usage.Limit != 128<<20 || s.Data.Memory.Usage.Usage == 0 {
		t.Errorf("stats memory = %+v, want limit 128 MiB and usage > 0", s.Data.Memory.Usage)
	}
	if s.Data.Pids.Current != 1 || s.Data.Pids.Limit != 30 {
		t.Errorf("stats pids = %+v, want current 1, limit 30", s.Data.Pids)
	}
	if s.Data.CPU.Usage.Total == 0 {
		t.Errorf("stats cpu usage total is 0")
	}

	r.ok("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	r.ok("delete", id)
	if !gone(dir) {
		t.Errorf("cgroup %s still there after delete", dir)
	}
}

// TestV2NestedAbsolutePath: an absolute cgroupsPath several levels deep is
// created with the controllers enabled on the way down, and delete removes
// the container's own cgroup.
func TestV2NestedAbsolutePath(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	top := filepath.Join(cgroupRoot, "hutch-cg2-"+id)
	t.Cleanup(func() {
		// Parents are the caller's to remove (as with runc).
		for _, d := range []string{filepath.Join(top, "a/b"), filepath.Join(top, "a"), top} {
			os.Remove(d)
		}
	})
	path := "/hutch-cg2-" + id + "/a/b/" + id
	b := shBundle(t, "exec sleep 1000", withCgroupsPath(path), withResources(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(100 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(7))},
	}))
	pid := r.start(b, id)
	dir := filepath.Join(cgroupRoot, path)
	if got := cgroupOf(t, pid); got != dir {
		t.Fatalf("container in %s, want %s", got, dir)
	}
	if got := cgRead(t, dir, "memory.max"); got != "104857600" {
		t.Errorf("memory.max = %q", got)
	}
	if got := cgRead(t, dir, "pids.max"); got != "7" {
		t.Errorf("pids.max = %q", got)
	}
	for _, d := range []string{top, filepath.Join(top, "a"), filepath.Join(top, "a/b")} {
		sub := strings.Fields(cgRead(t, d, "cgroup.subtree_control"))
		if !slices.Contains(sub, "memory") || !slices.Contains(sub, "pids") {
			t.Errorf("%s/cgroup.subtree_control = %v, want memory and pids", d, sub)
		}
	}
	r.ok("delete", "--force", id)
	if !gone(dir) {
		t.Errorf("%s still there after delete --force", dir)
	}
}

// TestV2MemoryOOM: a process that touches more than memory.max is
// OOM-killed inside the container, memory.events counts it, and `events
// --stats` reports it.
func TestV2MemoryOOM(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	// dd allocates its 64 MiB block and fills it from /dev/zero.
	b := shBundle(t, "dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd-exit=$?; exec sleep 1000",
		withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{
			Limit: ptr(int64(32 << 20)), Swap: ptr(int64(32 << 20)),
		}}))
	pid := r.start(b, id)
	dir := cgroupOf(t, pid)
	waitFor(t, "dd to end", func() bool {
		out, _ := r.output(id)
		return strings.Contains(out, "dd-exit=")
	})
	out, errOut := r.output(id)
	if !strings.Contains(out, "dd-exit=137") {
		t.Errorf("dd was not SIGKILLed: stdout %q, stderr %q", out, errOut)
	}
	if n := cgKV(t, dir, "memory.events", "oom_kill"); n < 1 {
		t.Errorf("memory.events oom_kill = %d, want >= 1", n)
	}
	if max := cgKV(t, dir, "memory.events", "max"); max < 1 {
		t.Errorf("memory.events max = %d, want >= 1", max)
	}
	if s := r.stats(id); s.Data.Memory.OOMKills < 1 {
		t.Errorf("events --stats memory.oomKills = %d, want >= 1", s.Data.Memory.OOMKills)
	}
	if st := r.state(id); st.Status != "running" {
		t.Errorf("container status %q after the OOM kill of a child, want running", st.Status)
	}
}

// TestV2TinyLimitsStillStart: the runtime's own footprint in the container's
// cgroup must be tiny: pids.max=1 (only the container process itself) and a
// few MiB of memory still start the container.
func TestV2TinyLimitsStillStart(t *testing.T) {
	r := newRuntime(t)

	t.Run("pids.max=1", func(t *testing.T) {
		b := testbundle.New(t, testbundle.WithArgs("echo", "hello"),
			withResources(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(1))}}))
		res := r.runFG(b, newID(t))
		if res.code != 0 || strings.TrimSpace(res.stdout) != "hello" {
			t.Fatalf("container with pids.max 1: %v", res)
		}
	})

	t.Run("pids.max=1 forbids a fork", func(t *testing.T) {
		b := shBundle(t, "echo started; if /bin/true; then echo forked; fi",
			withResources(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(1))}}))
		res := r.runFG(b, newID(t))
		if !strings.Contains(res.stdout, "started") || strings.Contains(res.stdout, "forked") {
			t.Fatalf("pids.max 1: want the shell to start and its fork to fail: %v", res)
		}
	})

	for _, mib := range []int64{8, 4} {
		t.Run(fmt.Sprintf("memory %d MiB", mib), func(t *testing.T) {
			b := testbundle.New(t, testbundle.WithArgs("echo", "hello"),
				withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{
					Limit: ptr(mib << 20), Swap: ptr(mib << 20),
				}}))
			res := r.runFG(b, newID(t))
			if res.code != 0 || strings.TrimSpace(res.stdout) != "hello" {
				t.Fatalf("container with memory.max %d MiB: %v", mib, res)
			}
		})
	}
}

// TestV2CPUThrottled: a busy loop under a 10% quota is throttled; the
// counters move in cpu.stat and in `events --stats` (never timed).
func TestV2CPUThrottled(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	b := shBundle(t, "while :; do :; done", withResources(&specs.LinuxResources{
		CPU: &specs.LinuxCPU{Quota: ptr(int64(10000)), Period: ptr(uint64(100000))},
	}))
	pid := r.start(b, id)
	dir := cgroupOf(t, pid)
	t0 := time.Now()
	waitFor(t, "cpu.stat nr_throttled > 0", func() bool {
		return cgKV(t, dir, "cpu.stat", "nr_throttled") > 0 && cgKV(t, dir, "cpu.stat", "throttled_usec") > 0
	})
	t.Logf("throttled after %v: %s", time.Since(t0).Round(time.Millisecond), strings.ReplaceAll(cgRead(t, dir, "cpu.stat"), "\n", ", "))
	s := r.stats(id)
	th := s.Data.CPU.Throttling
	if th.Periods == 0 || th.ThrottledPeriods == 0 || th.ThrottledTime == 0 {
		t.Errorf("events --stats cpu.throttling = %+v, want every counter > 0", th)
	}
	if th.ThrottledPeriods > th.Periods {
		t.Errorf("throttled periods %d > periods %d", th.ThrottledPeriods, th.Periods)
	}
}

// TestV2DevicesEBPF: with no /dev/block rule, a block device node the
// container makes itself (mknod is allowed for every device, as runc
// does) cannot be opened; /dev/null still works; an allow rule for read
// lets it be read but not written. The cgroup has no devices.* files: the
// kernel asks the eBPF program attached to the cgroup.
func TestV2DevicesEBPF(t *testing.T) {
	if !fileExists("/sys/dev/block/7:0") {
		t.Skip("no loop device 7:0 (load the loop module)")
	}
	r := newRuntime(t)
	script := `mknod /dev/blk b 7 0 && echo mknod-ok
head -c1 /dev/blk >/dev/null 2>/dev/err; echo read=$? $(cat /dev/err)
(echo x >/dev/blk) 2>/dev/err; echo write=$? $(cat /dev/err)
echo x >/dev/null && echo null-ok
head -c1 /dev/zero >/dev/null && echo zero-ok`

	t.Run("denied", func(t *testing.T) {
		b := shBundle(t, script, withCap("CAP_MKNOD"))
		res := r.runFG(b, newID(t))
		if !contains(res.stdout, "mknod-ok", "null-ok", "zero-ok") {
			t.Errorf("want mknod, /dev/null and /dev/zero allowed: %v", res)
		}
		if !eperm(res.stdout, "read=") || !eperm(res.stdout, "write=") {
			t.Errorf("want read and write of b 7:0 denied with EPERM: %v", res)
		}
	})

	t.Run("read allowed", func(t *testing.T) {
		b := shBundle(t, script, withCap("CAP_MKNOD"), withResources(&specs.LinuxResources{
			Devices: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "b", Major: ptr(int64(7)), Minor: ptr(int64(0)), Access: "r"},
			},
		}))
		res := r.runFG(b, newID(t))
		if !contains(res.stdout, "mknod-ok", "read=0", "null-ok", "zero-ok") {
			t.Errorf("want b 7:0 readable, /dev/null and /dev/zero allowed: %v", res)
		}
		if !eperm(res.stdout, "write=") {
			t.Errorf("want write of b 7:0 denied (rule grants r only): %v", res)
		}
	})

	t.Run("allow all but loop", func(t *testing.T) {
		b := shBundle(t, script, withCap("CAP_MKNOD"), withResources(&specs.LinuxResources{
			Devices: []specs.LinuxDeviceCgroup{
				{Allow: true, Access: "rwm"},
				{Allow: false, Type: "b", Major: ptr(int64(7)), Access: "rw"},
			},
		}))
		res := r.runFG(b, newID(t))
		if !contains(res.stdout, "mknod-ok", "null-ok", "zero-ok") || !eperm(res.stdout, "read=") || !eperm(res.stdout, "write=") {
			t.Errorf("want only b 7:* read/write denied: %v", res)
		}
	})

	t.Run("no devices files", func(t *testing.T) {
		id := newID(t)
		pid := r.start(shBundle(t, "exec sleep 1000"), id)
		dir := cgroupOf(t, pid)
		if m, _ := filepath.Glob(filepath.Join(dir, "devices.*")); len(m) > 0 {
			t.Errorf("v1 devices files in a v2 cgroup: %v", m)
		}
	})
}

// TestV2FreezeThaw: pause sets cgroup.freeze and stops a counter loop;
// resume lets it go on; a paused container can be killed and deleted.
func TestV2FreezeThaw(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	b := shBundle(t, "i=0; while :; do i=$((i+1)); echo $i >/tmp/count.new; mv /tmp/count.new /tmp/count; usleep 20000; done",
		testbundle.WithWritableRootfs())
	pid := r.start(b, id)
	dir := cgroupOf(t, pid)
	count := func() int {
		data, _ := os.ReadFile(b.Path("/tmp/count"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return n
	}
	waitFor(t, "the counter to start", func() bool { return count() > 2 })

	r.ok("pause", id)
	if st := r.state(id); st.Status != "paused" {
		t.Errorf("status after pause = %q", st.Status)
	}
	if got := cgRead(t, dir, "cgroup.freeze"); got != "1" {
		t.Errorf("cgroup.freeze = %q after pause", got)
	}
	if n := cgKV(t, dir, "cgroup.events", "frozen"); n != 1 {
		t.Errorf("cgroup.events frozen = %d after pause", n)
	}
	c1 := count()
	time.Sleep(500 * time.Millisecond)
	if c2 := count(); c2 != c1 {
		t.Errorf("counter moved while paused: %d -> %d", c1, c2)
	}

	r.ok("resume", id)
	if st := r.state(id); st.Status != "running" {
		t.Errorf("status after resume = %q", st.Status)
	}
	if got := cgRead(t, dir, "cgroup.freeze"); got != "0" {
		t.Errorf("cgroup.freeze = %q after resume", got)
	}
	waitFor(t, "the counter to go on after resume", func() bool { return count() > c1+2 })

	// Paused, then killed and deleted.
	r.ok("pause", id)
	r.ok("kill", id, "KILL")
	r.ok("delete", "--force", id)
	if !gone(dir) {
		t.Errorf("cgroup %s still there after deleting a paused container", dir)
	}
	waitFor(t, "the container process to go", func() bool { return !fileExists(fmt.Sprintf("/proc/%d/stat", pid)) || zombie(pid) })
}

// eperm reports whether the line of out starting with prefix shows a
// failure (status not 0) with EPERM's message.
func eperm(out, prefix string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return !strings.HasPrefix(l, prefix+"0") && strings.Contains(l, "Operation not permitted")
		}
	}
	return false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(data), ')')
	return i >= 0 && i+2 < len(data) && (data[i+2] == 'Z' || data[i+2] == 'X')
}
