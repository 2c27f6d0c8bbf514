package cgroups

import (
	"errors"
	"log/slog"
	"maps"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/fs1"
	"hutch.dev/hutch/cgroups/fs2"
	"hutch.dev/hutch/cgroups/internal/validate"
	"hutch.dev/hutch/errdefs"
)

// fs1 and fs2 each are a complete Manager for the hierarchies they are
// given; manager composes them (one of them on v1 or v2, both on the
// hybrid layout) and decides which one answers for what.
var (
	_ Manager = (*fs1.Manager)(nil)
	_ Manager = (*fs2.Manager)(nil)
	_ Manager = (*manager)(nil)
)

type manager struct {
	v1  *fs1.Manager // nil on pure v2
	v2  *fs2.Manager // nil without a cgroup2 mount
	log *slog.Logger
}

// part is what both implementations offer beyond Manager.
type part interface {
	Manager
	Controllers() []string
	Validate(*specs.LinuxResources) error
	AddStats(*Stats) error
}

func (m *manager) parts() []part {
	var ps []part
	if m.v1 != nil {
		ps = append(ps, m.v1)
	}
	if m.v2 != nil {
		ps = append(ps, m.v2)
	}
	return ps
}

// owner is the part in charge of a controller (v1 name; blkio is "io" on
// v2), or nil.
func (m *manager) owner(controller string) part {
	for _, p := range m.parts() {
		cs := p.Controllers()
		if slices.Contains(cs, controller) || controller == "blkio" && p == part(m.v2) && slices.Contains(cs, "io") {
			return p
		}
	}
	return nil
}

// requestable are the controllers whose settings the spec carries. A
// setting for a controller the host lacks is refused (runc and crun refuse
// network classifiers that are not mounted, too): a limit that silently
// does nothing is worse than a clear error. optional is kept for
// controllers that may be skipped.
var requestable = []struct {
	name     string
	field    string
	optional bool
}{
	{"cpuset", "cpu.cpus/mems", false},
	{"cpu", "cpu", false},
	{"memory", "memory", false},
	{"pids", "pids", false},
	{"blkio", "blockIO", false},
	{"devices", "devices", false},
	{"hugetlb", "hugepageLimits", false},
	{"net_cls", "network.classID", false},
	{"net_prio", "network.priorities", false},
}

// Validate checks r and that this host can enforce every part of it,
// without touching anything.
func (m *manager) Validate(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	for _, c := range requestable {
		if !validate.Requested(r, c.name) || m.owner(c.name) != nil {
			continue
		}
		if c.optional {
			m.log.Debug("setting skipped: controller not mounted", "field", "linux.resources."+c.field, "controller", c.name)
			continue
		}
		return errdefs.FailedPrecondition("linux.resources.%s: the %s controller is not available on this host", c.field, c.name)
	}
	if len(r.Unified) > 0 && m.v2 == nil {
		return errdefs.InvalidArgument("linux.resources.unified: this host has no cgroup v2 hierarchy (pure cgroup v1)")
	}
	if len(r.Rdma) > 0 {
		m.log.Debug("linux.resources.rdma ignored: not supported")
	}
	for _, p := range m.parts() {
		if err := p.Validate(r); err != nil {
			return err
		}
	}
	return nil
}

// Set validates all of r for every part before any part creates a
// directory, so invalid input leaves nothing behind.
func (m *manager) Set(r *specs.LinuxResources) error {
	if err := m.Validate(r); err != nil {
		return err
	}
	for _, p := range m.parts() {
		if err := p.Set(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *manager) Apply(pid int) error {
	for _, p := range m.parts() {
		if err := p.Apply(pid); err != nil {
			return err
		}
	}
	return nil
}

func (m *manager) Enter(pid int) error {
	for _, p := range m.parts() {
		if err := p.Enter(pid); err != nil {
			return err
		}
	}
	return nil
}

func (m *manager) Stats() (*Stats, error) {
	s := &Stats{}
	for _, p := range m.parts() {
		if err := p.AddStats(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// freezer is the part whose freezer acts: v1's freezer.state when the
// hierarchy is mounted, else cgroup.freeze.
func (m *manager) freezer() (part, error) {
	if p := m.owner("freezer"); p != nil {
		return p, nil
	}
	return nil, errdefs.NotImplemented("freezer: not available on this host")
}

func (m *manager) Freeze() error {
	p, err := m.freezer()
	if err != nil {
		return err
	}
	return p.Freeze()
}

func (m *manager) Thaw() error {
	p, err := m.freezer()
	if err != nil {
		return err
	}
	return p.Thaw()
}

func (m *manager) Frozen() (bool, error) {
	p, err := m.freezer()
	if err != nil {
		return false, nil
	}
	return p.Frozen()
}

// Pids asks the v1 part when there is one: every v1 hierarchy holds every
// process, and on the hybrid layout the unified one may have been joined
// later than the others.
func (m *manager) Pids() ([]int, error) { return m.parts()[0].Pids() }

func (m *manager) OOMKillCount() (uint64, error) {
	p := m.owner("memory")
	if p == nil {
		return 0, errdefs.NotImplemented("oom kill count: no memory controller on this host")
	}
	return p.OOMKillCount()
}

// Destroy removes the cgroups of every part, v1 first (it thaws the v1
// freezer, which lets killed processes exit and leave the v2 cgroup too).
func (m *manager) Destroy() error {
	// A cgroup that still holds processes stops the whole Destroy: the
	// other parts stay too, and the caller can kill and retry.
	var errs []error
	for _, p := range m.parts() {
		err := p.Destroy()
		if errdefs.IsFailedPrecondition(err) {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (m *manager) Paths() map[string]string {
	out := map[string]string{}
	for _, p := range m.parts() {
		maps.Copy(out, p.Paths())
	}
	return out
}
