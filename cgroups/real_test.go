package cgroups_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups"
	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/errdefs"
)

// These tests create real cgroups under a unique name below the test's own
// cgroup and remove only those.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func uniqueName(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "hutch-test-" + hex.EncodeToString(b)
}

// newManager returns a manager for a fresh relative cgroup that is
// destroyed at the end of the test.
func newManager(t *testing.T) cgroups.Manager {
	t.Helper()
	needRoot(t)
	m, err := cgroups.New(uniqueName(t), "")
	if err != nil {
		t.Fatal(err)
	}
	restoreSubtreeControl(t, m)
	t.Cleanup(func() {
		for _, pid := range must(m.Pids()) {
			_ = syscallKill(pid)
		}
		_ = m.Thaw()
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return m
}

// restoreSubtreeControl undoes, at the end of the test, the controllers
// that creating the cgroup enabled in the cgroup2 ancestors' subtree_control,
// so the test leaves the host as it found it. Cleanups run last-in
// first-out, so this runs after Destroy.
func restoreSubtreeControl(t *testing.T, m cgroups.Manager) {
	dir, ok := m.Paths()[""]
	if !ok {
		return
	}
	for d := filepath.Dir(dir); cgfs.Exists(d, "cgroup.subtree_control"); d = filepath.Dir(d) {
		before, _ := cgfs.Read(d, "cgroup.subtree_control")
		t.Cleanup(func() {
			now, _ := cgfs.Read(d, "cgroup.subtree_control")
			for _, c := range strings.Fields(now) {
				if !slices.Contains(strings.Fields(before), c) {
					_ = cgfs.Write(d, "cgroup.subtree_control", "-"+c)
				}
			}
		})
		if d == "/" {
			break
		}
	}
}

func must[T any](v T, _ error) T { return v }

func syscallKill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// gated starts `sh -c script` blocked on reading a line; release lets it
// run. This puts the process into a cgroup before it does anything that
// the cgroup should see (a fork, an exec that charges memory).
type gated struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   strings.Builder
}

func startGated(t *testing.T, script string) *gated {
	t.Helper()
	g := &gated{cmd: exec.Command("sh", "-c", "read x; "+script)}
	g.cmd.Stdout, g.cmd.Stderr = &g.out, &g.out
	var err error
	if g.stdin, err = g.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		_ = g.cmd.Wait()
	})
	return g
}

func (g *gated) pid() int { return g.cmd.Process.Pid }

func (g *gated) release(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(g.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, dir, file string) string {
	t.Helper()
	s, err := cgfs.Read(dir, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func TestRealLimitsFreezeDestroy(t *testing.T) {
	m := newManager(t)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(10))},
		CPU: &specs.LinuxCPU{
			Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)),
			Cpus: "0", Mems: "0",
		},
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	g := startGated(t, "exec sleep 100")
	if err := m.Apply(g.pid()); err != nil {
		t.Fatal(err)
	}
	g.release(t)
	// The exec happens inside the cgroup, so its new memory is charged
	// there; wait for it by its visible effect, not by time.
	if err := cgfs.WaitFor("exec sleep", 10e9, func() (bool, error) {
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(g.pid()) + "/comm")
		return strings.TrimSpace(string(comm)) == "sleep", err
	}); err != nil {
		t.Fatal(err)
	}

	// Each limit is read back from the v1 file when that controller has a
	// v1 hierarchy, otherwise from the v2 file of the unified cgroup (pure
	// v2, or a hybrid host whose v1 lacks the controller).
	p := m.Paths()
	checks := []struct{ ctl, v1file, v1want, v2file, v2want string }{
		{"memory", "memory.limit_in_bytes", "67108864", "memory.max", "67108864"},
		{"pids", "pids.max", "10", "pids.max", "10"},
		{"cpu", "cpu.cfs_quota_us", "50000", "cpu.max", "50000 100000"},
		{"cpu", "cpu.cfs_period_us", "100000", "", ""},
		// cpu.weight = 1 + (shares-2)*9999/262142, as runc converts.
		{"cpu", "cpu.shares", "512", "cpu.weight", "20"},
		{"cpuset", "cpuset.cpus", "0", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0", "cpuset.mems", "0"},
	}
	for _, c := range checks {
		if dir, ok := p[c.ctl]; ok {
			if got := readFile(t, dir, c.v1file); got != c.v1want {
				t.Errorf("%s = %q, want %q", c.v1file, got, c.v1want)
			}
			continue
		}
		dir, ok := p[""]
		if !ok || c.v2file == "" {
			if !ok {
				t.Logf("no %s hierarchy here; %s not checked", c.ctl, c.v1file)
			}
			continue
		}
		if got := readFile(t, dir, c.v2file); got != c.v2want {
			t.Errorf("%s/%s = %q, want %q", dir, c.v2file, got, c.v2want)
		}
	}
	if pids := must(m.Pids()); !slices.Contains(pids, g.pid()) {
		t.Errorf("Pids() = %v, want it to hold %d", pids, g.pid())
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Usage.Usage == 0 || st.Memory.Usage.Limit != 64<<20 {
		t.Errorf("memory stats = %+v, want usage > 0 and limit 64 MiB", st.Memory.Usage)
	}
	if st.Pids.Current != 1 || st.Pids.Limit != 10 {
		t.Errorf("pids stats = %+v, want current 1, limit 10", st.Pids)
	}
	if n, err := m.OOMKillCount(); err != nil || n != 0 {
		t.Errorf("OOMKillCount() = %d, %v", n, err)
	}

	// Freeze and thaw.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Errorf("Frozen() after Freeze = %v, %v", f, err)
	}
	if dir, ok := p["freezer"]; ok {
		if got := readFile(t, dir, "freezer.state"); got != "FROZEN" {
			t.Errorf("freezer.state = %q", got)
		}
	} else if dir, ok := p[""]; ok {
		if got := readFile(t, dir, "cgroup.freeze"); got != "1" {
			t.Errorf("cgroup.freeze = %q, want 1", got)
		}
		if ev, err := cgfs.ReadKV(dir, "cgroup.events"); err != nil || ev["frozen"] != 1 {
			t.Errorf("cgroup.events frozen = %d, %v; want 1", ev["frozen"], err)
		}
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || f {
		t.Errorf("Frozen() after Thaw = %v, %v", f, err)
	}

	// A cgroup with a live process is never removed.
	err = m.Destroy()
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "still holds processes") {
		t.Fatalf("Destroy with a live process: %v, want a failed-precondition error naming the cgroup", err)
	}

	// A frozen container can still be killed and destroyed: Destroy
	// thaws, the pending SIGKILL then ends the process.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	_ = g.cmd.Process.Kill()
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy of a killed frozen container: %v", err)
	}
	for c, dir := range m.Paths() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s cgroup %s still there after Destroy (%v)", c, dir, err)
		}
	}
	// Removing again is not an error.
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestRealPidsLimitEnforced(t *testing.T) {
	m := newManager(t)
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(3))}}); err != nil {
		t.Fatal(err)
	}
	// The sleeps must not hold the shell's output pipe, or Wait would wait
	// for them. A shell that cannot fork gives up the loop.
	g := startGated(t, "for i in 1 2 3 4 5; do sleep 100 >/dev/null 2>&1 & done; echo loop-done")
	if err := m.Apply(g.pid()); err != nil {
		t.Fatal(err)
	}
	g.release(t)
	_ = g.cmd.Wait() // the shell exits after its loop; the sleeps stay
	pids := must(m.Pids())
	if len(pids) > 3 {
		t.Errorf("%d processes in a cgroup with pids.max 3: %v", len(pids), pids)
	}
	if !strings.Contains(strings.ToLower(g.out.String()), "fork") {
		t.Errorf("no fork failure reported by the shell: %q", g.out.String())
	}
	// pids.events is the v1 hierarchy's, or the unified cgroup's on v2.
	dir, ok := m.Paths()["pids"]
	if !ok {
		dir, ok = m.Paths()[""]
	}
	if ok {
		ev, err := cgfs.ReadKV(dir, "pids.events")
		if err != nil || ev["max"] == 0 {
			t.Errorf("%s/pids.events max = %d, %v; want > 0", dir, ev["max"], err)
		}
	}
	for _, pid := range pids {
		_ = syscallKill(pid)
	}
}

func TestRealBadInputCreatesNothing(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name string
		r    specs.LinuxResources
		want string
	}{
		{"cpus", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "99"}}, `linux.resources.cpu.cpus "99": cpu 99 not on this machine`},
		{"mems", specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "7"}}, `linux.resources.cpu.mems "7": memory node 7`},
		{"memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-5))}}, "linux.resources.memory.limit -5"},
		{"device type", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "x"}}}, `linux.resources.devices[0].type "x": must be a, b or c`},
		{"device access", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Access: "rx"}}}, `linux.resources.devices[0].access "rx"`},
		{"shares", specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(1))}}, "linux.resources.cpu.shares 1"},
		{"pids", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(-2))}}, "linux.resources.pids.limit -2"},
		{"hugetlb", specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 1}}}, `linux.resources.hugepageLimits[0].pageSize "3MB"`},
		{"unified", specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, "linux.resources.unified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := cgroups.New(uniqueName(t), "")
			if err != nil {
				t.Fatal(err)
			}
			err = m.Set(&c.r)
			if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Set: %v, want an invalid-argument error containing %q", err, c.want)
			}
			for _, dir := range m.Paths() {
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a failed Set", dir)
					_ = m.Destroy()
				}
			}
		})
	}
}

func TestRealLoadFromPaths(t *testing.T) {
	m := newManager(t)
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	g := startGated(t, "exec sleep 100")
	if err := m.Apply(g.pid()); err != nil {
		t.Fatal(err)
	}
	l, err := cgroups.Load(m.Paths())
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(l.Paths(), m.Paths()) {
		t.Errorf("Load(Paths()).Paths() = %v, want %v", l.Paths(), m.Paths())
	}
	if pids := must(l.Pids()); !slices.Contains(pids, g.pid()) {
		t.Errorf("loaded Pids() = %v", pids)
	}
	if err := l.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Frozen(); !f {
		t.Error("freeze through the loaded manager not seen by the first")
	}
	_ = g.cmd.Process.Kill()
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range m.Paths() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there", dir)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRealNestedMemoryPath(t *testing.T) {
	needRoot(t)
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	procs, _ := cgroups.ParseProcCgroup(strings.NewReader(string(own)))
	name := uniqueName(t)
	m, err := cgroups.New(name, "")
	if err != nil {
		t.Fatal(err)
	}
	if dir, ok := m.Paths()["memory"]; ok {
		want := filepath.Join("/sys/fs/cgroup/memory", procs["memory"], name)
		if dir != want {
			t.Errorf("memory path %s, want %s (below our own memory cgroup)", dir, want)
		}
		return
	}
	// No v1 memory hierarchy (pure v2): memory is the unified cgroup's,
	// which must be below our own unified cgroup too.
	dir, ok := m.Paths()[""]
	if !ok {
		t.Skip("no memory hierarchy")
	}
	l, err := cgroups.DetectLayout("/proc/self/mountinfo")
	if err != nil || l.Unified == nil {
		t.Fatalf("layout %+v, %v: Paths() has a unified cgroup but no cgroup2 mount", l, err)
	}
	if l.Unified.Root == "/" {
		if want := filepath.Join(l.Unified.Point, procs[""], name); dir != want {
			t.Errorf("unified path %s, want %s (below our own cgroup)", dir, want)
		}
	}
	if filepath.Base(dir) != name || !strings.HasPrefix(dir, l.Unified.Point+"/") {
		t.Errorf("unified path %s: want %s below %s", dir, name, l.Unified.Point)
	}
	// Its parent is the cgroup we are in.
	parent := readFile(t, filepath.Dir(dir), "cgroup.procs")
	if !slices.Contains(strings.Fields(parent), strconv.Itoa(os.Getpid())) {
		t.Errorf("%s/cgroup.procs does not list us (%d): the cgroup is not below our own", filepath.Dir(dir), os.Getpid())
	}
}

func TestRealV1Devices(t *testing.T) {
	m := newManager(t)
	dir, ok := m.Paths()["devices"]
	if !ok {
		t.Skip("no v1 devices hierarchy")
	}
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(136)), Access: "rw"},
	}}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dir, "devices.list"); got != "c 1:3 rwm\nc 136:* rw" {
		t.Errorf("devices.list = %q", got)
	}
	// The same rules again are a no-op (no deny-all window).
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
}

// TestRealEnter: Enter moves a process into existing cgroups and, when
// they are gone, fails without making any (an exec racing a delete).
func TestRealEnter(t *testing.T) {
	m := newManager(t)
	g := startGated(t, "exec sleep 100")
	defer g.cmd.Process.Kill()
	if err := m.Enter(g.pid()); err == nil {
		t.Fatal("Enter before the cgroups exist succeeded")
	}
	for ctl, dir := range m.Paths() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Enter made the %s cgroup %s", ctl, dir)
		}
	}
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	if err := m.Enter(g.pid()); err != nil {
		t.Fatal(err)
	}
	if pids := must(m.Pids()); !slices.Contains(pids, g.pid()) {
		t.Errorf("Pids() after Enter = %v, want %d among them", pids, g.pid())
	}
	_ = g.cmd.Process.Kill()
	_ = g.cmd.Wait()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
}
