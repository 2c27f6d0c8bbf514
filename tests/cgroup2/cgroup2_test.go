package cgroup2

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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
// crun use), changes the v2-only ones live with `update --resources`, reads
// them through `events --stats`, and checks `delete` removes the cgroup.
// The limits every layout has (memory OOM, pids, CPU throttling, devices,
// freezer, tiny limits, update, bad input) are tested for real by the
// Test functions of tests/integration/cgroups_test.go, which run.sh runs
// in the guest too.
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

	// Live update of the v2-only values (the flags' update of memory.max,
	// pids.max and cpu.max is TestCgroupsUpdate in tests/integration).
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
	if s.Data.Memory.Usage.Limit != 64<<20 || s.Data.Memory.Usage.Usage == 0 {
		t.Errorf("stats memory = %+v, want limit 64 MiB and usage > 0", s.Data.Memory.Usage)
	}
	if s.Data.Pids.Current != 1 || s.Data.Pids.Limit != 20 {
		t.Errorf("stats pids = %+v, want current 1, limit 20", s.Data.Pids)
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

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
