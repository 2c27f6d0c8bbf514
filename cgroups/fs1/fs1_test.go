package fs1

import (
	"maps"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/fixture"
	"hutch.dev/hutch/errdefs"
)

var ptr = fixture.Ptr[int64]

// v1Tree makes a fixture with one hierarchy per controller at
// ROOT/CONTROLLER and the container's cgroup at ROOT/CONTROLLER/c holding
// files (CONTROLLER/FILE -> contents). It returns the manager.
func v1Tree(t *testing.T, files map[string]string) (*Manager, string) {
	t.Helper()
	root := t.TempDir()
	paths, roots := map[string]string{}, map[string]string{}
	withC := map[string]string{}
	for name, v := range files {
		ctl, file := filepath.Split(name)
		ctl = filepath.Clean(ctl)
		paths[ctl] = filepath.Join(root, ctl, "c")
		roots[ctl] = filepath.Join(root, ctl)
		withC[filepath.Join(ctl, "c", file)] = v
	}
	fixture.Tree(t, root, withC)
	fixture.Tree(t, root, map[string]string{"hugepages/hugepages-2048kB/nr_hugepages": "0"})
	m, err := New(paths, roots, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.HugePageDir = filepath.Join(root, "hugepages")
	return m, root
}

func TestMemory(t *testing.T) {
	m, root := v1Tree(t, map[string]string{
		"memory/memory.limit_in_bytes":       "",
		"memory/memory.memsw.limit_in_bytes": "9223372036854771712",
		"memory/memory.soft_limit_in_bytes":  "",
		"memory/memory.swappiness":           "",
		"memory/memory.oom_control":          "",
		"memory/memory.use_hierarchy":        "",
	})
	err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{
		Limit: ptr(64 << 20), Swap: ptr(128 << 20), Reservation: ptr(32 << 20),
		Swappiness: fixture.Ptr[uint64](10), DisableOOMKiller: fixture.Ptr(true), UseHierarchy: fixture.Ptr(true),
	}})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "memory/c"), map[string]string{
		"memory.limit_in_bytes":       "67108864",
		"memory.memsw.limit_in_bytes": "134217728",
		"memory.soft_limit_in_bytes":  "33554432",
		"memory.swappiness":           "10",
		"memory.oom_control":          "1",
		"memory.use_hierarchy":        "1",
	})
}

func TestMemoryNoSwapAccounting(t *testing.T) {
	m, root := v1Tree(t, map[string]string{"memory/memory.limit_in_bytes": ""})
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(1 << 20), Swap: ptr(2 << 20)}}); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "memory/c"), map[string]string{"memory.limit_in_bytes": "1048576"})
}

func TestCPU(t *testing.T) {
	m, root := v1Tree(t, fixture.Empty("cpu/cpu.shares", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us",
		"cpu/cpu.cfs_burst_us", "cpu/cpu.rt_runtime_us", "cpu/cpu.rt_period_us", "cpu/cpu.idle"))
	// The rt files must also exist at the hierarchy root: that is where
	// validation looks for the kernel feature.
	fixture.Tree(t, filepath.Join(root, "cpu"), fixture.Empty("cpu.rt_runtime_us", "cpu.rt_period_us"))
	err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{
		Shares: fixture.Ptr[uint64](512), Quota: ptr(50000), Period: fixture.Ptr[uint64](100000),
		Burst: fixture.Ptr[uint64](1000), RealtimeRuntime: ptr(950000), RealtimePeriod: fixture.Ptr[uint64](1000000),
		Idle: ptr(1),
	}})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "cpu/c"), map[string]string{
		"cpu.shares": "512", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000",
		"cpu.cfs_burst_us": "1000", "cpu.rt_runtime_us": "950000", "cpu.rt_period_us": "1000000", "cpu.idle": "1",
	})
}

func TestCPURealtimeMissing(t *testing.T) {
	m, _ := v1Tree(t, fixture.Empty("cpu/cpu.shares"))
	err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(1000)}})
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Set realtimeRuntime without cpu.rt_runtime_us: %v", err)
	}
}

func TestCpuset(t *testing.T) {
	m, root := v1Tree(t, fixture.Empty("cpuset/cpuset.cpus", "cpuset/cpuset.mems"))
	fixture.Tree(t, filepath.Join(root, "cpuset"), map[string]string{
		"cpuset.cpus": "0-3", "cpuset.mems": "0", "cpuset.effective_cpus": "0-3", "cpuset.effective_mems": "0",
	})
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "1,3", Mems: "0"}}); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "cpuset/c"), map[string]string{"cpuset.cpus": "1,3", "cpuset.mems": "0"})

	err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "4"}})
	want := `linux.resources.cpu.cpus "4": cpu 4 not on this machine (0-3)`
	if !errdefs.IsInvalidArgument(err) || err.Error() != want {
		t.Errorf("Set cpus 4: %v, want %q", err, want)
	}
}

func TestInitCpusetCopiesParent(t *testing.T) {
	dir := fixture.Tree(t, t.TempDir(), map[string]string{
		"cpuset.cpus": "0-1", "cpuset.mems": "0",
		"c/cpuset.cpus": "", "c/cpuset.mems": "",
	})
	if err := initCpuset(filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(dir, "c"), map[string]string{"cpuset.cpus": "0-1", "cpuset.mems": "0"})
}

func TestPids(t *testing.T) {
	for limit, want := range map[int64]string{-1: "max", 0: "max", 7: "7"} {
		m, root := v1Tree(t, fixture.Empty("pids/pids.max"))
		if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(limit)}}); err != nil {
			t.Fatal(err)
		}
		fixture.Expect(t, filepath.Join(root, "pids/c"), map[string]string{"pids.max": want})
	}
}

func TestBlkio(t *testing.T) {
	// No blkio.weight: the BFQ files take the weights.
	m, root := v1Tree(t, fixture.Empty("blkio/blkio.bfq.weight", "blkio/blkio.bfq.weight_device",
		"blkio/blkio.throttle.read_bps_device", "blkio/blkio.throttle.write_bps_device",
		"blkio/blkio.throttle.read_iops_device", "blkio/blkio.throttle.write_iops_device"))
	dev := specs.LinuxBlockIODevice{Major: 8, Minor: 0}
	err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		Weight:                  fixture.Ptr[uint16](500),
		WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev, Weight: fixture.Ptr[uint16](200)}},
		ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 1000}},
		ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 2000}},
		ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 30}},
		ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 40}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "blkio/c"), map[string]string{
		"blkio.bfq.weight": "500", "blkio.bfq.weight_device": "8:0 200",
		"blkio.throttle.read_bps_device": "8:0 1000", "blkio.throttle.write_bps_device": "8:0 2000",
		"blkio.throttle.read_iops_device": "8:0 30", "blkio.throttle.write_iops_device": "8:0 40",
	})
	if err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: fixture.Ptr[uint16](5)}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("weight 5: %v, want invalid argument", err)
	}
}

func TestHugetlbAndNetwork(t *testing.T) {
	m, root := v1Tree(t, fixture.Empty("hugetlb/hugetlb.2MB.limit_in_bytes", "hugetlb/hugetlb.2MB.rsvd.limit_in_bytes",
		"net_cls/net_cls.classid", "net_prio/net_prio.ifpriomap"))
	err := m.Set(&specs.LinuxResources{
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Network: &specs.LinuxNetwork{ClassID: fixture.Ptr[uint32](0x100001),
			Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, root, map[string]string{
		"hugetlb/c/hugetlb.2MB.limit_in_bytes": "4194304", "hugetlb/c/hugetlb.2MB.rsvd.limit_in_bytes": "4194304",
		"net_cls/c/net_cls.classid": "1048577", "net_prio/c/net_prio.ifpriomap": "eth0 5",
	})
	err = m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 1}}})
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("page size 1GB with only 2MB pages: %v", err)
	}
}

func TestDevices(t *testing.T) {
	m, root := v1Tree(t, map[string]string{"devices/devices.allow": "", "devices/devices.deny": "", "devices/devices.list": "a *:* rwm"})
	err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(1), Minor: ptr(3), Access: "rwm"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Each file holds its last write: the deny-all, then the allow.
	fixture.Expect(t, filepath.Join(root, "devices/c"), map[string]string{"devices.deny": "a", "devices.allow": "c 1:3 rwm"})

	// Same state already in place (a live update): nothing is written.
	fixture.Tree(t, root, map[string]string{"devices/c/devices.list": "c 1:3 rwm", "devices/c/devices.allow": "", "devices/c/devices.deny": ""})
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(1), Minor: ptr(3), Access: "rwm"},
	}}); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "devices/c"), map[string]string{"devices.deny": "", "devices.allow": ""})
}

func TestStats(t *testing.T) {
	m, _ := v1Tree(t, map[string]string{
		"cpuacct/cpuacct.usage":        "3000",
		"cpuacct/cpuacct.usage_percpu": "1000 2000 \n",
		"cpuacct/cpuacct.stat":         "user 5\nsystem 7\n",
		"cpu/cpu.stat":                 "nr_periods 10\nnr_throttled 2\nthrottled_time 123456\nnr_bursts 0\n",
		"memory/memory.usage_in_bytes": "4096", "memory/memory.max_usage_in_bytes": "8192",
		"memory/memory.limit_in_bytes": "9223372036854771712", "memory/memory.failcnt": "3",
		"memory/memory.memsw.usage_in_bytes": "5000", "memory/memory.memsw.max_usage_in_bytes": "9000",
		"memory/memory.memsw.limit_in_bytes": "20000", "memory/memory.memsw.failcnt": "0",
		"memory/memory.stat":        "cache 100\nrss 200\ntotal_cache 100\n",
		"memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
		"pids/pids.current":         "4", "pids/pids.max": "max",
		"blkio/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\nTotal 12288\n",
		"blkio/blkio.throttle.io_serviced_recursive":      "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
		"blkio/blkio.bfq.io_service_bytes_recursive":      "Total 0\n",
		"hugetlb/hugetlb.2MB.usage_in_bytes":              "2097152", "hugetlb/hugetlb.2MB.max_usage_in_bytes": "4194304",
		"hugetlb/hugetlb.2MB.failcnt": "1", "hugetlb/hugetlb.2MB.rsvd.usage_in_bytes": "0",
	})
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	u := s.CPU.Usage
	if u.Total != 3000 || len(u.PerCPU) != 2 || u.PerCPU[1] != 2000 || u.User != 50_000_000 || u.Kernel != 70_000_000 {
		t.Errorf("cpu usage = %+v", u)
	}
	if th := s.CPU.Throttling; th.Periods != 10 || th.ThrottledPeriods != 2 || th.ThrottledTime != 123456 {
		t.Errorf("throttling = %+v", th)
	}
	mem := s.Memory
	if mem.Usage.Usage != 4096 || mem.Usage.Max != 8192 || mem.Usage.Failcnt != 3 || mem.Swap.Usage != 5000 ||
		mem.Swap.Limit != 20000 || mem.Cache != 100 || mem.Raw["rss"] != 200 || mem.OOMKills != 2 {
		t.Errorf("memory = %+v", mem)
	}
	if s.Pids.Current != 4 || s.Pids.Limit != 0 {
		t.Errorf("pids = %+v", s.Pids)
	}
	b := s.Blkio
	if len(b.IoServiceBytesRecursive) != 3 || b.IoServiceBytesRecursive[1].Op != "Write" || b.IoServiceBytesRecursive[1].Value != 8192 ||
		len(b.IoServicedRecursive) != 2 || b.IoServicedRecursive[0].Major != 8 {
		t.Errorf("blkio = %+v", b)
	}
	if h := s.Hugetlb["2MB"]; len(s.Hugetlb) != 1 || h.Usage != 2097152 || h.Max != 4194304 || h.Failcnt != 1 {
		t.Errorf("hugetlb = %+v", s.Hugetlb)
	}
	if n, err := m.OOMKillCount(); n != 2 || err != nil {
		t.Errorf("OOMKillCount() = %d, %v", n, err)
	}
}

func TestFreezer(t *testing.T) {
	m, root := v1Tree(t, map[string]string{"freezer/freezer.state": "THAWED"})
	// A fixture file reads back what was written, as a freezer that
	// freezes at once.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Frozen(); !f {
		t.Error("not frozen")
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, root, map[string]string{"freezer/c/freezer.state": "THAWED"})
}

func TestNewRejectsPathOutsideHierarchy(t *testing.T) {
	_, err := New(map[string]string{"memory": "/sys/fs/cgroup/cpu/x"}, map[string]string{"memory": "/sys/fs/cgroup/memory"}, nil)
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("New with a path outside the hierarchy: %v", err)
	}
	m, _ := v1Tree(t, fixture.Empty("memory/memory.limit_in_bytes", "cpu/cpu.shares"))
	if got := m.Paths(); len(got) != 2 || !maps.Equal(got, m.paths) {
		t.Errorf("Paths() = %v", got)
	}
}
