// Package fs1 drives cgroup v1: one hierarchy per controller (or per group
// of co-mounted controllers), so one directory per controller. Each
// controller lives in its own file as a set function (OCI resources to
// interface files) and a stats function.
package fs1

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
	"hutch.dev/hutch/cgroups/internal/validate"
	"hutch.dev/hutch/errdefs"
)

// subsystem is one v1 controller: set writes its part of the resources
// into dir, stats reads its counters. Either may be nil.
type subsystem struct {
	name  string
	set   func(dir string, r *specs.LinuxResources, log *slog.Logger) error
	stats func(dir string, s *stats.Stats) error
}

// subsystems in the order they are set. cpuset comes first because a v1
// cgroup takes no task before its cpuset is filled; freezer sets nothing.
var subsystems = []subsystem{
	{"cpuset", setCpuset, nil},
	{"devices", setDevices, nil},
	{"memory", setMemory, memoryStats},
	{"cpu", setCPU, cpuStats},
	{"cpuacct", nil, cpuacctStats},
	{"pids", setPids, pidsStats},
	{"blkio", setBlkio, blkioStats},
	{"hugetlb", setHugetlb, hugetlbStats},
	{"net_cls", setNetCls, nil},
	{"net_prio", setNetPrio, nil},
	{"freezer", nil, nil},
}

// Manager is the cgroup of one container on the v1 hierarchies it was
// given. It touches only those: on the hybrid layout the controllers of
// the unified hierarchy are fs2's business.
type Manager struct {
	paths map[string]string // controller (or "name=systemd") -> cgroup dir
	roots map[string]string // controller -> mount point of its hierarchy
	log   *slog.Logger

	// HugePageDir lists the machine's huge page sizes; a field so that
	// fixture tests can point it elsewhere.
	HugePageDir string
}

// New returns the manager for the given per-controller directories; roots
// gives each controller's hierarchy mount point, under which every path
// must lie. log may be nil.
func New(paths, roots map[string]string, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for c, p := range paths {
		root, ok := roots[c]
		if !ok {
			return nil, fmt.Errorf("cgroup %s: controller %s has no mounted hierarchy", p, c)
		}
		if rel, err := filepath.Rel(root, p); err != nil || !filepath.IsLocal(rel) || rel == "." {
			return nil, errdefs.InvalidArgument("cgroup %s: not under the %s hierarchy %s", p, c, root)
		}
	}
	return &Manager{paths: maps.Clone(paths), roots: maps.Clone(roots), log: log, HugePageDir: "/sys/kernel/mm/hugepages"}, nil
}

// Controllers lists the controllers this manager drives.
func (m *Manager) Controllers() []string { return slices.Sorted(maps.Keys(m.paths)) }

func (m *Manager) Paths() map[string]string { return maps.Clone(m.paths) }

// dirs returns each cgroup directory once (co-mounted controllers such as
// "cpu,cpuacct" share one), in a stable order.
func (m *Manager) dirs() []string {
	var out []string
	for _, c := range m.Controllers() {
		if !slices.Contains(out, m.paths[c]) {
			out = append(out, m.paths[c])
		}
	}
	return out
}

// create makes every cgroup directory that is missing. New v1 cpuset
// cgroups start with empty cpuset.cpus and cpuset.mems and refuse tasks
// (ENOSPC) until both are filled, so each new level copies its parent's.
func (m *Manager) create() (created []string, err error) {
	done := map[string]bool{}
	for _, c := range m.Controllers() {
		dir := m.paths[c]
		if done[dir] {
			continue
		}
		done[dir] = true
		made, err := cgfs.Mkdir(m.roots[c], dir)
		created = append(created, made...)
		if err != nil {
			return created, err
		}
		if c == "cpuset" || cgfs.Exists(dir, "cpuset.cpus") {
			for _, d := range made {
				if err := initCpuset(d); err != nil {
					return created, err
				}
			}
		}
		m.log.Debug("cgroup v1 created", "controller", c, "path", dir, "new", len(made))
	}
	return created, nil
}

// Validate checks r against this machine without touching anything.
func (m *Manager) Validate(r *specs.LinuxResources) error {
	env := validate.Env{HugePageSizes: validate.HugePageSizes(m.HugePageDir)}
	if dir, ok := m.paths["cpuset"]; ok {
		env.CPUs, env.Mems, env.Source = cpusetEnv(m.roots["cpuset"], dir)
	}
	if err := validate.Resources(r, env); err != nil {
		return err
	}
	return m.validateFiles(r)
}

// validateFiles checks the fields that need a kernel feature shown by a
// file in the hierarchy root.
func (m *Manager) validateFiles(r *specs.LinuxResources) error {
	if r.CPU == nil {
		return nil
	}
	root, ok := m.roots["cpu"]
	if !ok {
		return nil
	}
	// Real-time group scheduling exists only with CONFIG_RT_GROUP_SCHED.
	if r.CPU.RealtimeRuntime != nil && *r.CPU.RealtimeRuntime != 0 && !cgfs.Exists(root, "cpu.rt_runtime_us") {
		return errdefs.InvalidArgument("linux.resources.cpu.realtimeRuntime %d: this kernel has no real-time group scheduling (no cpu.rt_runtime_us)", *r.CPU.RealtimeRuntime)
	}
	if r.CPU.RealtimePeriod != nil && *r.CPU.RealtimePeriod != 0 && !cgfs.Exists(root, "cpu.rt_period_us") {
		return errdefs.InvalidArgument("linux.resources.cpu.realtimePeriod %d: this kernel has no real-time group scheduling (no cpu.rt_period_us)", *r.CPU.RealtimePeriod)
	}
	return nil
}

// Set validates r, creates the cgroups when missing and writes the limits.
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
	for _, s := range subsystems {
		dir, ok := m.paths[s.name]
		if !ok || s.set == nil {
			continue
		}
		if err := s.set(dir, r, m.log); err != nil {
			return err
		}
	}
	return nil
}

// Apply creates the cgroups when missing and moves pid into each of them.
// A pid of -1 only creates them.
func (m *Manager) Apply(pid int) error {
	created, err := m.create()
	if err == nil && pid != -1 {
		for _, dir := range m.dirs() {
			if err = cgfs.Write(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
				break
			}
		}
	}
	if err != nil {
		cgfs.RemoveCreated(created)
	}
	return err
}

func (m *Manager) Enter(pid int) error {
	for _, dir := range m.dirs() {
		if err := cgfs.Write(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// mainDir is the directory whose tree lists the container's processes:
// every v1 hierarchy holds every process, so any one will do, but the
// freezer's is the one that freezing acts on.
func (m *Manager) mainDir() (string, bool) {
	for _, c := range []string{"freezer", "pids", "memory", "devices", "cpu"} {
		if d, ok := m.paths[c]; ok {
			return d, true
		}
	}
	d := m.dirs()
	if len(d) == 0 {
		return "", false
	}
	return d[0], true
}

func (m *Manager) Pids() ([]int, error) {
	dir, ok := m.mainDir()
	if !ok {
		return nil, nil
	}
	return cgfs.Procs(dir)
}

func (m *Manager) Stats() (*stats.Stats, error) {
	s := &stats.Stats{}
	return s, m.AddStats(s)
}

// AddStats fills the parts of s that this manager's controllers count.
func (m *Manager) AddStats(s *stats.Stats) error {
	for _, sub := range subsystems {
		dir, ok := m.paths[sub.name]
		if !ok || sub.stats == nil {
			continue
		}
		if err := sub.stats(dir, s); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) OOMKillCount() (uint64, error) {
	dir, ok := m.paths["memory"]
	if !ok {
		return 0, errdefs.NotImplemented("oom kill count: no memory cgroup v1 hierarchy")
	}
	return oomKills(dir)
}

// Destroy thaws the cgroup (a frozen v1 task cannot act on its SIGKILL
// and so never leaves) and removes every directory, deepest first.
func (m *Manager) Destroy() error {
	if dir, ok := m.paths["freezer"]; ok && cgfs.Exists(dir, "freezer.state") {
		if err := thaw(dir); err != nil && !cgfs.IsNotExist(err) {
			m.log.Debug("thaw before destroy failed", "path", dir, "err", err)
		}
	}
	// Check every hierarchy before removing any, so that a refused
	// Destroy leaves the container's cgroups whole.
	for _, dir := range m.dirs() {
		if err := cgfs.WaitEmpty(dir); err != nil {
			return err
		}
	}
	var errs []error
	for _, dir := range m.dirs() {
		if err := cgfs.RemoveTree(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) Freeze() error {
	dir, ok := m.paths["freezer"]
	if !ok {
		return errdefs.NotImplemented("freeze: no freezer cgroup v1 hierarchy")
	}
	return freeze(dir)
}

func (m *Manager) Thaw() error {
	dir, ok := m.paths["freezer"]
	if !ok {
		return errdefs.NotImplemented("thaw: no freezer cgroup v1 hierarchy")
	}
	return thaw(dir)
}

func (m *Manager) Frozen() (bool, error) {
	dir, ok := m.paths["freezer"]
	if !ok {
		return false, nil
	}
	return frozen(dir)
}
