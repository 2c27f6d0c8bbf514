// Package cgroups places containers in control groups and enforces the OCI
// linux.resources there, on cgroup v1, on the v1/v2 hybrid layout and on pure
// cgroup v2. New detects the layout at run time and returns the Manager that
// fits it; fs1 and fs2 hold the two implementations, one file per controller.
package cgroups

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/stats"
)

// Manager controls the cgroup (or, on v1, the set of per-controller cgroups)
// of one container.
type Manager interface {
	// Apply creates the cgroup(s) when missing and moves pid into them.
	Apply(pid int) error
	// Enter moves pid into the cgroup(s), which must exist: a process
	// joining a container (exec) must never bring back the cgroups of a
	// container that is being deleted.
	Enter(pid int) error
	// Set writes the resource limits. Fields left nil are not touched, so
	// Set also serves live updates.
	Set(r *specs.LinuxResources) error
	// Stats reads the current usage counters.
	Stats() (*Stats, error)
	// Freeze stops every process of the cgroup and returns once they are
	// frozen; Thaw lets them run again.
	Freeze() error
	Thaw() error
	// Frozen reports whether the cgroup is frozen (or freezing).
	Frozen() (bool, error)
	// Pids lists every process in the cgroup and its descendants.
	Pids() ([]int, error)
	// OOMKillCount is how many processes the kernel OOM-killed in it.
	OOMKillCount() (uint64, error)
	// Destroy removes the cgroup(s), retrying while the kernel still drains
	// exited processes. It refuses to remove a cgroup that holds processes.
	Destroy() error
	// Paths maps each controller to its cgroup directory; on pure v2 the
	// single unified directory is under the key "".
	Paths() map[string]string
}

// The counters live in a leaf package so that fs1 and fs2 can fill them
// without importing this package; these aliases keep their names here.
type (
	Stats         = stats.Stats
	CPUStats      = stats.CPUStats
	CPUUsage      = stats.CPUUsage
	CPUThrottling = stats.CPUThrottling
	MemoryEntry   = stats.MemoryEntry
	MemoryStats   = stats.MemoryStats
	PidsStats     = stats.PidsStats
	BlkioEntry    = stats.BlkioEntry
	BlkioStats    = stats.BlkioStats
	HugetlbStats  = stats.HugetlbStats
)
