// Package fs2 drives cgroup v2: one directory per container in the single
// unified hierarchy. Each controller lives in its own file as a set
// function (OCI resources to interface files) and a stats function. On the
// hybrid layout the same code drives only the controllers that the unified
// hierarchy holds there.
package fs2

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
	"hutch.dev/hutch/cgroups/internal/validate"
	"hutch.dev/hutch/errdefs"
)

// Pseudo-controllers: v2 has no "devices" or "freezer" controller, the
// features are core (an eBPF program, cgroup.freeze) but a manager is still
// in charge of them or not.
const (
	Devices = "devices"
	Freezer = "freezer"
)

// AllControllers is what a manager on pure cgroup v2 is in charge of.
var AllControllers = []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", Devices, Freezer}

// controller is one v2 controller: set writes its part of the resources
// into dir (called only when r asks something of it), stats reads its
// counters.
type controller struct {
	name  string
	set   func(dir string, r *specs.LinuxResources, log *slog.Logger) error
	stats func(dir string, s *stats.Stats) error
}

// controllers in the order they are set: cpuset before the rest, as on v1.
var controllers = []controller{
	{"cpuset", setCpuset, nil},
	{"cpu", setCPU, cpuStats},
	{"memory", setMemory, memoryStats},
	{"pids", setPids, pidsStats},
	{"io", setIO, ioStats},
	{"hugetlb", setHugetlb, hugetlbStats},
	{Devices, setDevices, nil},
}

// Manager is the cgroup v2 directory of one container.
type Manager struct {
	dir   string
	root  string // mount point of the unified hierarchy
	owned []string
	log   *slog.Logger

	// HugePageDir lists the machine's huge page sizes; a field so that
	// fixture tests can point it elsewhere.
	HugePageDir string
}

// New returns the manager of dir, a cgroup below the cgroup2 mount point
// root, in charge of the given controllers (AllControllers on pure v2).
// log may be nil.
func New(dir, root string, owned []string, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if rel, err := filepath.Rel(root, dir); err != nil || !filepath.IsLocal(rel) || rel == "." {
		return nil, errdefs.InvalidArgument("cgroup %s: not below the cgroup2 mount %s", dir, root)
	}
	return &Manager{dir: dir, root: root, owned: slices.Clone(owned), log: log, HugePageDir: "/sys/kernel/mm/hugepages"}, nil
}

// Controllers lists the controllers this manager is in charge of.
func (m *Manager) Controllers() []string { return slices.Clone(m.owned) }

func (m *Manager) owns(c string) bool { return slices.Contains(m.owned, c) }

// Paths has the single directory under the key "".
func (m *Manager) Paths() map[string]string { return map[string]string{"": m.dir} }

// Validate checks r against this machine without touching anything.
func (m *Manager) Validate(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	env := validate.Env{HugePageSizes: validate.HugePageSizes(m.HugePageDir)}
	// The nearest existing ancestor decides what the cgroup may use and
	// enable; when the cgroup exists, that is still its parent.
	from := m.existingAncestor()
	if from == m.dir {
		from = filepath.Dir(m.dir)
	}
	if m.owns("cpuset") {
		env.CPUs, _ = cgfs.Read(from, "cpuset.cpus.effective")
		env.Mems, _ = cgfs.Read(from, "cpuset.mems.effective")
		env.Source = "parent cgroup " + from
		if from == m.root {
			env.Source = "this machine"
		}
	}
	if err := validate.Resources(r, env); err != nil {
		return err
	}
	// A controller the ancestor does not have cannot be enabled below it:
	// fail before creating anything.
	avail := m.available(from)
	for _, c := range controllers {
		if c.name == Devices || !m.owns(c.name) || !validate.Requested(r, c.name) {
			continue
		}
		if !slices.Contains(avail, c.name) {
			return errdefs.FailedPrecondition("cgroup %s: controller %s is not available (cgroup.controllers: %q)", from, c.name, strings.Join(avail, " "))
		}
	}
	if err := m.validateV2(r); err != nil {
		return err
	}
	return m.validateUnified(r, avail)
}

// existingAncestor is the deepest existing directory on the way to m.dir
// (m.dir itself when it exists).
func (m *Manager) existingAncestor() string {
	d := m.dir
	for d != m.root && len(d) > len(m.root) {
		if cgfs.Exists(d, "cgroup.controllers") {
			return d
		}
		d = filepath.Dir(d)
	}
	return m.root
}

func (m *Manager) available(dir string) []string {
	s, err := cgfs.Read(dir, "cgroup.controllers")
	if err != nil {
		return nil
	}
	return strings.Fields(s)
}

// create makes the directory and, in every ancestor from the root down,
// enables the controllers this manager is in charge of in
// cgroup.subtree_control: a v2 controller's files appear in a cgroup only
// when its parent delegates the controller. Enabling can fail (a non-root
// ancestor with processes of its own may not delegate, the "no internal
// processes" rule); Set then names the missing controller.
func (m *Manager) create() ([]string, error) {
	created, err := cgfs.Mkdir(m.root, m.dir)
	if err != nil {
		return created, err
	}
	rel, _ := filepath.Rel(m.root, m.dir)
	parent := m.root
	for part := range strings.SplitSeq(rel, "/") {
		m.enable(parent)
		parent = filepath.Join(parent, part)
	}
	if len(created) > 0 {
		m.log.Debug("cgroup v2 created", "path", m.dir, "new", len(created))
	}
	return created, nil
}

func (m *Manager) enable(dir string) {
	have, _ := cgfs.Read(dir, "cgroup.subtree_control")
	for _, c := range m.available(dir) {
		if !m.owns(c) || slices.Contains(strings.Fields(have), c) {
			continue
		}
		if err := cgfs.Write(dir, "cgroup.subtree_control", "+"+c); err != nil {
			m.log.Debug("cannot enable controller", "path", dir, "controller", c, "err", err)
		}
	}
}

// Set validates r, creates the cgroup when missing and writes the limits.
// Nothing is created when r is invalid.
func (m *Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := m.Validate(r); err != nil {
		return err
	}
	created, err := m.create()
	if err == nil {
		err = m.set(r)
	}
	if err != nil {
		cgfs.RemoveCreated(created)
	}
	return err
}

func (m *Manager) set(r *specs.LinuxResources) error {
	avail := m.available(m.dir)
	for _, c := range controllers {
		if !m.owns(c.name) || !validate.Requested(r, c.name) {
			continue
		}
		if c.name != Devices && !slices.Contains(avail, c.name) {
			return errdefs.FailedPrecondition("cgroup %s: controller %s is not enabled (cgroup.controllers: %q)", m.dir, c.name, strings.Join(avail, " "))
		}
		if err := c.set(m.dir, r, m.log); err != nil {
			return err
		}
	}
	return setUnified(m.dir, r.Unified)
}

// Apply creates the cgroup when missing and moves pid into it. A pid of
// -1 only creates it.
func (m *Manager) Apply(pid int) error {
	created, err := m.create()
	if err == nil && pid != -1 {
		err = cgfs.Write(m.dir, "cgroup.procs", strconv.Itoa(pid))
	}
	if err != nil {
		cgfs.RemoveCreated(created)
	}
	return err
}

func (m *Manager) Enter(pid int) error {
	return cgfs.Write(m.dir, "cgroup.procs", strconv.Itoa(pid))
}

func (m *Manager) Pids() ([]int, error) { return cgfs.Procs(m.dir) }

func (m *Manager) Stats() (*stats.Stats, error) {
	s := &stats.Stats{}
	return s, m.AddStats(s)
}

// AddStats fills the parts of s that this manager's controllers count.
func (m *Manager) AddStats(s *stats.Stats) error {
	for _, c := range controllers {
		if !m.owns(c.name) || c.stats == nil {
			continue
		}
		if err := c.stats(m.dir, s); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) OOMKillCount() (uint64, error) {
	if !m.owns("memory") {
		return 0, errdefs.NotImplemented("oom kill count: memory is not on the cgroup v2 hierarchy here")
	}
	return oomKills(m.dir)
}

// Destroy thaws the cgroup and removes it and its descendants, deepest
// first. SIGKILL reaches frozen v2 tasks, but a cgroup left frozen would
// stop a process that the caller moves in later, so thaw first anyway.
func (m *Manager) Destroy() error {
	if m.owns(Freezer) {
		if f, err := m.Frozen(); err == nil && f {
			if err := m.Thaw(); err != nil {
				m.log.Debug("thaw before destroy failed", "path", m.dir, "err", err)
			}
		}
	}
	if err := cgfs.WaitEmpty(m.dir); err != nil {
		return err
	}
	return cgfs.RemoveTree(m.dir)
}

func (m *Manager) Freeze() error {
	if !m.owns(Freezer) {
		return errdefs.NotImplemented("freeze: the freezer is not on the cgroup v2 hierarchy here")
	}
	return freeze(m.dir)
}

func (m *Manager) Thaw() error {
	if !m.owns(Freezer) {
		return errdefs.NotImplemented("thaw: the freezer is not on the cgroup v2 hierarchy here")
	}
	return thaw(m.dir)
}

func (m *Manager) Frozen() (bool, error) {
	if !m.owns(Freezer) {
		return false, nil
	}
	return frozen(m.dir)
}

// String names the cgroup in messages.
func (m *Manager) String() string { return fmt.Sprintf("cgroup2 %s", m.dir) }
