package fs2

import (
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/fixture"
	"hutch.dev/hutch/errdefs"
)

var ptr = fixture.Ptr[int64]

// v2Tree makes a unified hierarchy fixture: ROOT with cgroup.controllers
// offering avail, and the container's cgroup ROOT/c holding files.
func v2Tree(t *testing.T, owned []string, avail string, files map[string]string) (*Manager, string) {
	t.Helper()
	root := t.TempDir()
	fixture.Tree(t, root, map[string]string{
		"cgroup.controllers": avail, "cgroup.subtree_control": "",
		"cpuset.cpus.effective": "0-1", "cpuset.mems.effective": "0",
		"c/cgroup.controllers":                    avail,
		"hugepages/hugepages-2048kB/nr_hugepages": "0",
	})
	c := map[string]string{}
	for k, v := range files {
		c["c/"+k] = v
	}
	fixture.Tree(t, root, c)
	m, err := New(filepath.Join(root, "c"), root, owned, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.HugePageDir = filepath.Join(root, "hugepages")
	return m, root
}

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{2: 1, 1024: 39, 262144: 10000, 512: 20} {
		if got := SharesToWeight(shares); got != want {
			t.Errorf("SharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	for w, want := range map[uint16]uint64{10: 1, 1000: 10000, 500: 4950} {
		if got := BlkioToIOWeight(w); got != want {
			t.Errorf("BlkioToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
}

func TestMemory(t *testing.T) {
	m, root := v2Tree(t, AllControllers, "memory", fixture.Empty("memory.max", "memory.low", "memory.swap.max"))
	err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(64 << 20), Swap: ptr(96 << 20), Reservation: ptr(1 << 20)}})
	if err != nil {
		t.Fatal(err)
	}
	// memory.swap.max counts swap alone: memory+swap minus the limit.
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{
		"memory.max": "67108864", "memory.swap.max": "33554432", "memory.low": "1048576",
	})
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(-1), Swap: ptr(-1)}}); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{"memory.max": "max", "memory.swap.max": "max"})

	err = m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr(1 << 20)}})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "swap needs a memory limit") {
		t.Errorf("swap without limit: %v", err)
	}
}

func TestCPU(t *testing.T) {
	m, root := v2Tree(t, AllControllers, "cpu cpuset", map[string]string{
		"cpu.weight": "", "cpu.max": "max 100000", "cpu.max.burst": "", "cpu.idle": "", "cpuset.cpus": "", "cpuset.mems": "",
	})
	err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{
		Shares: fixture.Ptr[uint64](1024), Quota: ptr(50000), Burst: fixture.Ptr[uint64](1000), Idle: ptr(0),
		Cpus: "1", Mems: "0",
	}})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{
		"cpu.weight": "39", "cpu.max": "50000 100000", "cpu.max.burst": "1000", "cpu.idle": "0",
		"cpuset.cpus": "1", "cpuset.mems": "0",
	})
	// Period alone keeps the quota in place.
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: fixture.Ptr[uint64](200000)}}); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{"cpu.max": "50000 200000"})

	err = m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-5"}})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), `linux.resources.cpu.cpus "0-5": cpu 2 not on this machine (0-1)`) {
		t.Errorf("cpus 0-5: %v", err)
	}
	err = m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(1000)}})
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("realtime on v2: %v", err)
	}
}

func TestIO(t *testing.T) {
	dev := specs.LinuxBlockIODevice{Major: 8, Minor: 16}
	r := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		Weight:                  fixture.Ptr[uint16](500),
		ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 1000}},
		ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 0}},
	}}
	m, root := v2Tree(t, AllControllers, "io", fixture.Empty("io.weight", "io.max"))
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{"io.weight": "4950", "io.max": "8:16 rbps=1000 wiops=max"})

	// With BFQ the weight keeps the v1 scale.
	m, root = v2Tree(t, AllControllers, "io", fixture.Empty("io.weight", "io.bfq.weight", "io.max"))
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{"io.bfq.weight": "500", "io.weight": ""})
}

func TestPidsHugetlbUnified(t *testing.T) {
	m, root := v2Tree(t, AllControllers, "pids hugetlb memory", fixture.Empty("pids.max", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "memory.high"))
	err := m.Set(&specs.LinuxResources{
		Pids:           &specs.LinuxPids{Limit: ptr(-1)},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}},
		Unified:        map[string]string{"memory.high": "1000000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{
		"pids.max": "max", "hugetlb.2MB.max": "2097152", "hugetlb.2MB.rsvd.max": "2097152", "memory.high": "1000000",
	})
	for key, class := range map[string]func(error) bool{
		"memory.nosuch": errdefs.IsInvalidArgument,
		"cgroup.procs":  errdefs.IsInvalidArgument,
		"io.max":        errdefs.IsFailedPrecondition, // io not offered by the parent
		"memory/../x.y": errdefs.IsInvalidArgument,
	} {
		if err := m.Set(&specs.LinuxResources{Unified: map[string]string{key: "1"}}); !class(err) {
			t.Errorf("unified %q: %v", key, err)
		}
	}
}

func TestControllerNotAvailable(t *testing.T) {
	m, root := v2Tree(t, AllControllers, "cpu", fixture.Empty("cpu.weight"))
	err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(5)}})
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "controller pids is not available") {
		t.Errorf("pids without the controller: %v", err)
	}
	_ = root
}

func TestHybridOwnsOnlyItsControllers(t *testing.T) {
	// On the hybrid layout fs2 drives hugetlb only: memory is v1's.
	m, root := v2Tree(t, []string{"hugetlb"}, "hugetlb", fixture.Empty("hugetlb.2MB.max"))
	err := m.Set(&specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: ptr(1 << 20)},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{"hugetlb.2MB.max": "2097152"})
	if err := m.Set(&specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("unified memory.max on hybrid: %v", err)
	}
	if err := m.Freeze(); !errdefs.IsNotImplemented(err) {
		t.Errorf("Freeze without the freezer: %v", err)
	}
}

func TestSubtreeControl(t *testing.T) {
	root := fixture.Tree(t, t.TempDir(), map[string]string{
		"cgroup.controllers": "memory", "cgroup.subtree_control": "",
		"a/cgroup.controllers": "memory", "a/cgroup.subtree_control": "",
	})
	m, err := New(filepath.Join(root, "a", "b"), root, AllControllers, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, root, map[string]string{"cgroup.subtree_control": "+memory", "a/cgroup.subtree_control": "+memory"})
}

func TestStats(t *testing.T) {
	m, _ := v2Tree(t, AllControllers, "cpu memory io pids hugetlb", map[string]string{
		"cpu.stat":                 "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 5\nnr_throttled 1\nthrottled_usec 7\n",
		"memory.current":           "4096",
		"memory.peak":              "8192",
		"memory.max":               "max",
		"memory.events":            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
		"memory.stat":              "anon 1000\nfile 2000\nkernel 300\n",
		"memory.swap.current":      "100",
		"memory.swap.max":          "1000",
		"pids.current":             "2",
		"pids.max":                 "9",
		"io.stat":                  "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
		"hugetlb.2MB.current":      "0",
		"hugetlb.2MB.events":       "max 4\n",
		"hugetlb.2MB.rsvd.current": "0",
	})
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if u := s.CPU.Usage; u.Total != 100_000 || u.User != 60_000 || u.Kernel != 40_000 {
		t.Errorf("cpu usage = %+v", u)
	}
	if th := s.CPU.Throttling; th.Periods != 5 || th.ThrottledPeriods != 1 || th.ThrottledTime != 7000 {
		t.Errorf("throttling = %+v", th)
	}
	mem := s.Memory
	if mem.Usage.Usage != 4096 || mem.Usage.Max != 8192 || mem.Usage.Failcnt != 3 || mem.Cache != 2000 ||
		mem.OOMKills != 1 || mem.Swap.Usage != 4196 || mem.Kernel.Usage != 300 {
		t.Errorf("memory = %+v", mem)
	}
	if s.Pids.Current != 2 || s.Pids.Limit != 9 {
		t.Errorf("pids = %+v", s.Pids)
	}
	b := s.Blkio
	if len(b.IoServiceBytesRecursive) != 3 || b.IoServiceBytesRecursive[1].Op != "Write" || b.IoServiceBytesRecursive[1].Value != 20 ||
		len(b.IoServicedRecursive) != 3 || b.IoServicedRecursive[0].Value != 1 {
		t.Errorf("blkio = %+v", b)
	}
	if h := s.Hugetlb["2MB"]; len(s.Hugetlb) != 1 || h.Failcnt != 4 {
		t.Errorf("hugetlb = %+v", s.Hugetlb)
	}
	if n, err := m.OOMKillCount(); n != 1 || err != nil {
		t.Errorf("OOMKillCount() = %d, %v", n, err)
	}
}

func TestFreezer(t *testing.T) {
	// The fixture's cgroup.events already reads "frozen 1", as the kernel
	// reports once every task has stopped.
	m, root := v2Tree(t, AllControllers, "", map[string]string{"cgroup.freeze": "0", "cgroup.events": "populated 1\nfrozen 1\n"})
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{"cgroup.freeze": "1"})
	if f, _ := m.Frozen(); !f {
		t.Error("not frozen")
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, filepath.Join(root, "c"), map[string]string{"cgroup.freeze": "0"})
}
