package cgroups

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/fixture"
	"hutch.dev/hutch/errdefs"
)

// hybridMountinfo is this project's test machine (see TESTBED.md) with
// the mount points under ROOT.
const hybridMountinfo = `22 1 0:20 / / rw - ext4 /dev/vda rw
30 22 0:27 / ROOT rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / ROOT/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / ROOT/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:30 / ROOT/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / ROOT/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:32 / ROOT/devices rw,relatime - cgroup cgroup rw,devices
36 30 0:33 / ROOT/freezer rw,relatime - cgroup cgroup rw,freezer
37 30 0:34 / ROOT/blkio rw,relatime - cgroup cgroup rw,blkio
38 30 0:35 / ROOT/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / ROOT/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / ROOT/unified rw,relatime - cgroup2 cgroup2 rw
`

const hybridProcCgroup = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/8a5d
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`

// hostFixture writes mountinfo (ROOT replaced by a temp dir), the
// caller's /proc/self/cgroup and the cgroup files, and returns options
// pointing New and Load at them.
func hostFixture(t *testing.T, mountinfo, procCgroup string, files map[string]string) ([]Option, string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "cg")
	files["hugepages/hugepages-2048kB/nr_hugepages"] = "0"
	fixture.Tree(t, dir, map[string]string{
		"mountinfo": strings.ReplaceAll(mountinfo, "ROOT", root),
		"cgroup":    procCgroup,
	})
	fixture.Tree(t, root, files)
	opt := func(o *options) {
		o.mountinfo = filepath.Join(dir, "mountinfo")
		o.procCgroup = filepath.Join(dir, "cgroup")
		o.hugePageDir = filepath.Join(root, "hugepages")
	}
	return []Option{opt}, root
}

func TestParseMountinfo(t *testing.T) {
	v1, unified, err := ParseMountinfo(strings.NewReader(hybridMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "name=systemd", "pids"}
	if got := slices.Sorted(maps.Keys(v1)); !slices.Equal(got, want) {
		t.Errorf("v1 controllers = %v, want %v", got, want)
	}
	if v1["memory"].Point != "ROOT/memory" || unified == nil || unified.Point != "ROOT/unified" {
		t.Errorf("memory %+v, unified %+v", v1["memory"], unified)
	}

	// Co-mounted controllers, a cgroup namespace root and an escaped space.
	text := `50 1 0:40 /ns /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
51 1 0:41 / /mnt/my\040cgroups rw - cgroup cgroup rw,release_agent=/x,memory
`
	v1, unified, err = ParseMountinfo(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if v1["cpu"] != v1["cpuacct"] || v1["cpu"].Root != "/ns" || v1["memory"].Point != "/mnt/my cgroups" || unified != nil {
		t.Errorf("v1 = %+v, unified = %+v", v1, unified)
	}
}

func TestDetectLayout(t *testing.T) {
	cases := []struct {
		name, mountinfo, controllers string
		mode                         Mode
		v2Owned                      []string
	}{
		{"hybrid", hybridMountinfo, "hugetlb\n", Hybrid, []string{"hugetlb"}},
		{"v1", strings.Split(hybridMountinfo, "40 30")[0], "", V1, nil},
		{"v2", "30 22 0:27 / ROOT rw - cgroup2 cgroup2 rw\n", "cpuset cpu io memory hugetlb pids rdma misc\n", V2,
			[]string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc", "freezer", "devices"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts, root := hostFixture(t, c.mountinfo, "", map[string]string{
				"cgroup.controllers": c.controllers, "unified/cgroup.controllers": c.controllers,
			})
			o := defaults()
			opts[0](&o)
			l, err := DetectLayout(o.mountinfo)
			if err != nil {
				t.Fatal(err)
			}
			if l.Mode != c.mode || !slices.Equal(l.v2Owned(), c.v2Owned) {
				t.Errorf("mode %v owned %v, want %v %v", l.Mode, l.v2Owned(), c.mode, c.v2Owned)
			}
			_ = root
		})
	}
}

func TestCleanCgroupsPath(t *testing.T) {
	ok := map[string]string{"/a/b": "/a/b", "a/./b/": "a/b", "a/../b": "b", "": "ctr"}
	for in, want := range ok {
		got, _, err := cleanCgroupsPath(in, "ctr")
		if err != nil || got != want {
			t.Errorf("cleanCgroupsPath(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/../etc", "a/../../b", "..", "/", "a/..", "system.slice:docker:abc"} {
		if _, _, err := cleanCgroupsPath(bad, "ctr"); !errdefs.IsInvalidArgument(err) {
			t.Errorf("cleanCgroupsPath(%q): %v, want invalid argument", bad, err)
		}
	}
	_, _, err := cleanCgroupsPath("/../x", "ctr")
	if err == nil || err.Error() != `cgroupsPath "/../x": leaves the cgroup root` {
		t.Errorf("message: %v", err)
	}
}

func TestNewHybridPaths(t *testing.T) {
	opts, root := hostFixture(t, hybridMountinfo, hybridProcCgroup, map[string]string{
		"unified/cgroup.controllers": "hugetlb", "unified/cgroup.subtree_control": "",
	})
	m, err := New("", "ctr", opts...)
	if err != nil {
		t.Fatal(err)
	}
	p := m.Paths()
	if p["memory"] != filepath.Join(root, "memory/process_api/8a5d/ctr") || p["cpu"] != filepath.Join(root, "cpu/ctr") ||
		p["name=systemd"] != filepath.Join(root, "systemd/ctr") || p[""] != filepath.Join(root, "unified/ctr") || len(p) != 10 {
		t.Errorf("Paths() = %v", p)
	}
	m, err = New("/x/y", "ctr", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Paths(); p["memory"] != filepath.Join(root, "memory/x/y") {
		t.Errorf("absolute path: memory %s", p["memory"])
	}
	if _, err := New("x", "ctr", append(opts, WithSystemd(true))...); !errdefs.IsNotImplemented(err) {
		t.Errorf("WithSystemd(true): %v", err)
	}
}

// On the hybrid layout hugetlb goes to the unified hierarchy, the rest to
// v1, and the routing is checked before anything is created.
func TestHybridRouting(t *testing.T) {
	files := map[string]string{
		"unified/cgroup.controllers": "hugetlb", "unified/cgroup.subtree_control": "",
		"unified/ctr/cgroup.controllers": "hugetlb", "unified/ctr/hugetlb.2MB.max": "",
		"pids/ctr/pids.max": "",
	}
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory/process_api/8a5d", "devices", "freezer", "blkio", "systemd"} {
		files[c+"/ctr/cgroup.procs"] = ""
	}
	opts, root := hostFixture(t, hybridMountinfo, hybridProcCgroup, files)
	m, err := New("", "ctr", opts...)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Set(&specs.LinuxResources{
		Pids:           &specs.LinuxPids{Limit: fixture.Ptr[int64](5)},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Expect(t, root, map[string]string{"pids/ctr/pids.max": "5", "unified/ctr/hugetlb.2MB.max": "2097152", "unified/cgroup.subtree_control": "+hugetlb"})

	err = m.Set(&specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "not on the cgroup v2 hierarchy") {
		t.Errorf("unified memory.max on hybrid: %v", err)
	}
	err = m.Set(&specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: fixture.Ptr[uint32](1)}})
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "network.classID") {
		t.Errorf("net_cls without a hierarchy must be refused, naming the field: %v", err)
	}

	// Load from the stored paths gives the same manager.
	l, err := Load(m.Paths(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Paths(); len(got) != len(m.Paths()) || got["memory"] != m.Paths()["memory"] {
		t.Errorf("Load: %v", got)
	}
	if _, err := Load(map[string]string{"rdma": "/x"}, opts...); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Load of an unmounted controller: %v", err)
	}
	if _, err := Load(map[string]string{"memory": "/etc"}, opts...); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Load of a path outside the hierarchy: %v", err)
	}
}

func TestPureV1RejectsUnifiedAndHugetlb(t *testing.T) {
	v1only := strings.Split(hybridMountinfo, "40 30")[0]
	opts, _ := hostFixture(t, v1only, hybridProcCgroup, map[string]string{})
	m, err := New("", "ctr", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Paths()[""]; ok {
		t.Error("pure v1 has a unified path")
	}
	if err := m.Set(&specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("unified on v1: %v", err)
	}
	err = m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}})
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "hugetlb controller is not available") {
		t.Errorf("hugetlb without a hierarchy: %v", err)
	}
	for _, dir := range m.Paths() {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s created by a failed Set", dir)
		}
	}
}

func TestPureV2Paths(t *testing.T) {
	opts, root := hostFixture(t, "30 22 0:27 / ROOT rw - cgroup2 cgroup2 rw\n", "0::/user.slice/session-1.scope\n",
		map[string]string{"cgroup.controllers": "cpu memory pids"})
	m, err := New("", "ctr", opts...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"": filepath.Join(root, "user.slice/session-1.scope/ctr")}
	if got := m.Paths(); len(got) != 1 || got[""] != want[""] {
		t.Errorf("Paths() = %v, want %v", got, want)
	}
}
