// Package stats holds the usage counters that every cgroup implementation
// fills. It is a leaf package so that fs1 and fs2 can fill the same value
// that the cgroups package returns without an import cycle; cgroups
// re-exports each type under the same name.
package stats

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
