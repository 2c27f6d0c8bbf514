// Package cgroups places containers in control groups and enforces the OCI
// linux.resources there, on cgroup v1, on the v1/v2 hybrid layout and on pure
// cgroup v2. New detects the layout at run time and returns the Manager that
// fits it; fs1 and fs2 hold the two implementations, one file per controller.
package cgroups

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager controls the cgroup (or, on v1, the set of per-controller cgroups)
// of one container.
type Manager interface {
	// Apply creates the cgroup(s) when missing and moves pid into them.
	Apply(pid int) error
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

// Stats is the same shape on v1 and v2 and serialises as runc's
// `events --stats` data.
type Stats struct {
	CPU     CPUStats                `json:"cpu"`
	Memory  MemoryStats             `json:"memory"`
	Pids    PidsStats               `json:"pids"`
	Blkio   BlkioStats              `json:"blkio"`
	Hugetlb map[string]HugetlbStats `json:"hugetlb,omitempty"`
}

type CPUStats struct {
	Usage      CPUUsage      `json:"usage"`
	Throttling CPUThrottling `json:"throttling"`
}

type CPUUsage struct {
	Total  uint64   `json:"total"` // nanoseconds
	PerCPU []uint64 `json:"percpu,omitempty"`
	Kernel uint64   `json:"kernel"`
	User   uint64   `json:"user"`
}

type CPUThrottling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"` // nanoseconds
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type MemoryStats struct {
	Cache    uint64            `json:"cache,omitempty"`
	Usage    MemoryEntry       `json:"usage,omitempty"`
	Swap     MemoryEntry       `json:"swap,omitempty"`
	Kernel   MemoryEntry       `json:"kernel,omitempty"`
	OOMKills uint64            `json:"oomKills,omitempty"`
	Raw      map[string]uint64 `json:"raw,omitempty"`
}

type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"` // 0 means no limit
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type BlkioStats struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
}

type HugetlbStats struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}
