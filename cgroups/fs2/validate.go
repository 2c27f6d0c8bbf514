package fs2

import (
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
)

// validateV2 rejects what cgroup v2 cannot express.
func (m *Manager) validateV2(r *specs.LinuxResources) error {
	if c := r.CPU; c != nil && m.owns("cpu") {
		// v2 has no real-time group scheduling (cpu.rt_* are v1 only).
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
			return errdefs.InvalidArgument("linux.resources.cpu.realtimeRuntime %d: cgroup v2 has no real-time group scheduling", *c.RealtimeRuntime)
		}
		if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
			return errdefs.InvalidArgument("linux.resources.cpu.realtimePeriod %d: cgroup v2 has no real-time group scheduling", *c.RealtimePeriod)
		}
	}
	if mem := r.Memory; mem != nil && m.owns("memory") {
		if _, err := swapMax(mem); err != nil {
			return err
		}
	}
	return nil
}

// notLimits are the core files that change membership or state rather
// than limits; the spec's unified map is for limits, and writing these
// behind the runtime's back would break it.
var notLimits = []string{"cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.freeze", "cgroup.kill", "cgroup.type"}

// validateUnified checks each key of the unified map: a core cgroup.* file
// or the file of a controller this manager drives and the parent offers.
func (m *Manager) validateUnified(r *specs.LinuxResources, avail []string) error {
	for k := range r.Unified {
		ctl, _, _ := strings.Cut(k, ".")
		switch {
		case slices.Contains(notLimits, k):
			return errdefs.InvalidArgument("linux.resources.unified %q: not a limit; the runtime manages this file", k)
		case ctl == "cgroup":
		case !m.owns(ctl):
			return errdefs.InvalidArgument("linux.resources.unified %q: controller %s is not on the cgroup v2 hierarchy here", k, ctl)
		case !slices.Contains(avail, ctl):
			return errdefs.FailedPrecondition("linux.resources.unified %q: controller %s is not available (cgroup.controllers: %q)", k, ctl, strings.Join(avail, " "))
		}
	}
	return nil
}
