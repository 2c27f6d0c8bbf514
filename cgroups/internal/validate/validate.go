// Package validate checks OCI linux.resources before anything is created,
// so that bad input fails with an error naming the field and leaves no
// cgroup behind. Kernel limits that depend on the running kernel (a quota
// below the parent's, a memory limit below the usage) are left to the
// kernel; the write error then names the file and the value.
package validate

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/devices"
	"hutch.dev/hutch/errdefs"
)

// Env is what the machine offers: the cpus and memory nodes the new cgroup
// may use (its parent's effective sets) and the huge page sizes. Empty
// fields skip their check.
type Env struct {
	CPUs, Mems string
	// Where CPUs and Mems come from, for the message: "this machine" or
	// "parent cgroup /sys/fs/cgroup/cpuset/x".
	Source        string
	HugePageSizes []string
}

// Kernel bounds (kernel/sched/core.c, block/blk-cgroup, BFQ).
const (
	minShares    = 2
	maxShares    = 262144
	minQuotaUs   = 1000
	minPeriodUs  = 1000
	maxPeriodUs  = 1000000
	minBlkWeight = 10
	maxBlkWeight = 1000
)

func bad(field string, value any, format string, args ...any) error {
	return errdefs.InvalidArgument("linux.resources.%s %s: %s", field, quote(value), fmt.Sprintf(format, args...))
}

func quote(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// Resources checks r against env. A nil r is valid.
func Resources(r *specs.LinuxResources, env Env) error {
	if r == nil {
		return nil
	}
	checks := []func(*specs.LinuxResources, Env) error{memory, cpu, pids, blockIO, hugetlb, network, unified, deviceRules}
	for _, c := range checks {
		if err := c(r, env); err != nil {
			return err
		}
	}
	return nil
}

func memory(r *specs.LinuxResources, _ Env) error {
	m := r.Memory
	if m == nil {
		return nil
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"memory.limit", m.Limit}, {"memory.reservation", m.Reservation}, {"memory.swap", m.Swap}} {
		if f.v != nil && *f.v < -1 {
			return bad(f.name, *f.v, "must be -1 (no limit) or a number of bytes")
		}
	}
	// OCI swap is memory+swap (v1 memory.memsw.limit_in_bytes), which the
	// kernel keeps at or above the memory limit.
	if m.Swap != nil && m.Limit != nil && *m.Swap > 0 && *m.Limit > 0 && *m.Swap < *m.Limit {
		return bad("memory.swap", *m.Swap, "memory+swap must not be below the memory limit %d", *m.Limit)
	}
	// Docker passes -1 converted to uint64 for "unset".
	if m.Swappiness != nil && *m.Swappiness > 100 && *m.Swappiness != math.MaxUint64 {
		return bad("memory.swappiness", *m.Swappiness, "must be between 0 and 100")
	}
	return nil
}

func cpu(r *specs.LinuxResources, env Env) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	if c.Shares != nil && *c.Shares != 0 && (*c.Shares < minShares || *c.Shares > maxShares) {
		return bad("cpu.shares", *c.Shares, "must be between %d and %d", minShares, maxShares)
	}
	if c.Quota != nil && *c.Quota != 0 && *c.Quota != -1 && *c.Quota < minQuotaUs {
		return bad("cpu.quota", *c.Quota, "must be -1 (no limit) or at least %d microseconds", minQuotaUs)
	}
	if c.Period != nil && *c.Period != 0 && (*c.Period < minPeriodUs || *c.Period > maxPeriodUs) {
		return bad("cpu.period", *c.Period, "must be between %d and %d microseconds", minPeriodUs, maxPeriodUs)
	}
	if c.Burst != nil && c.Quota != nil && *c.Quota > 0 && *c.Burst > uint64(*c.Quota) {
		return bad("cpu.burst", *c.Burst, "must not exceed the quota %d", *c.Quota)
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime < -1 {
		return bad("cpu.realtimeRuntime", *c.RealtimeRuntime, "must be -1 or a number of microseconds")
	}
	if c.Idle != nil && *c.Idle != 0 && *c.Idle != 1 {
		return bad("cpu.idle", *c.Idle, "must be 0 or 1")
	}
	if err := subset("cpu.cpus", "cpu", c.Cpus, env.CPUs, env.Source); err != nil {
		return err
	}
	return subset("cpu.mems", "memory node", c.Mems, env.Mems, env.Source)
}

// subset checks that list names only members of avail.
func subset(field, what, list, avail, source string) error {
	if list == "" {
		return nil
	}
	want, err := ParseList(list)
	if err != nil {
		return bad(field, list, "%v", err)
	}
	if avail == "" {
		return nil
	}
	have, err := ParseList(avail)
	if err != nil {
		// What the kernel printed is not ours to reject; let it judge.
		return nil
	}
	ids := make([]int, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		if !have[id] {
			if source == "" || source == "this machine" {
				return bad(field, list, "%s %d not on this machine (%s)", what, id, avail)
			}
			return bad(field, list, "%s %d not available in %s (%s)", what, id, source, avail)
		}
	}
	return nil
}

func pids(r *specs.LinuxResources, _ Env) error {
	if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit < -1 {
		return bad("pids.limit", *r.Pids.Limit, "must be -1 or 0 (no limit) or a positive number")
	}
	return nil
}

func blockIO(r *specs.LinuxResources, _ Env) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	weight := func(field string, w *uint16) error {
		if w != nil && *w != 0 && (*w < minBlkWeight || *w > maxBlkWeight) {
			return bad(field, *w, "must be between %d and %d", minBlkWeight, maxBlkWeight)
		}
		return nil
	}
	if err := weight("blockIO.weight", b.Weight); err != nil {
		return err
	}
	if err := weight("blockIO.leafWeight", b.LeafWeight); err != nil {
		return err
	}
	dev := func(field string, d specs.LinuxBlockIODevice) error {
		if d.Major < 0 || d.Minor < 0 {
			return bad(field, fmt.Sprintf("%d:%d", d.Major, d.Minor), "device numbers must not be negative")
		}
		return nil
	}
	for i, d := range b.WeightDevice {
		f := fmt.Sprintf("blockIO.weightDevice[%d]", i)
		if err := dev(f, d.LinuxBlockIODevice); err != nil {
			return err
		}
		if err := weight(f+".weight", d.Weight); err != nil {
			return err
		}
		if err := weight(f+".leafWeight", d.LeafWeight); err != nil {
			return err
		}
	}
	for name, list := range map[string][]specs.LinuxThrottleDevice{
		"throttleReadBpsDevice": b.ThrottleReadBpsDevice, "throttleWriteBpsDevice": b.ThrottleWriteBpsDevice,
		"throttleReadIOPSDevice": b.ThrottleReadIOPSDevice, "throttleWriteIOPSDevice": b.ThrottleWriteIOPSDevice,
	} {
		for i, d := range list {
			if err := dev(fmt.Sprintf("blockIO.%s[%d]", name, i), d.LinuxBlockIODevice); err != nil {
				return err
			}
		}
	}
	return nil
}

var pageSizeRE = regexp.MustCompile(`^[1-9][0-9]*[KMG]B$`)

func hugetlb(r *specs.LinuxResources, env Env) error {
	for i, h := range r.HugepageLimits {
		f := fmt.Sprintf("hugepageLimits[%d].pageSize", i)
		if !pageSizeRE.MatchString(h.Pagesize) {
			return bad(f, h.Pagesize, "must be a size such as 2MB or 1GB")
		}
		if env.HugePageSizes != nil && !slices.Contains(env.HugePageSizes, h.Pagesize) {
			return bad(f, h.Pagesize, "no such huge page size on this machine (%s)", strings.Join(env.HugePageSizes, ", "))
		}
	}
	return nil
}

func network(r *specs.LinuxResources, _ Env) error {
	if r.Network == nil {
		return nil
	}
	for i, p := range r.Network.Priorities {
		if p.Name == "" || strings.ContainsAny(p.Name, " \t\n/") {
			return bad(fmt.Sprintf("network.priorities[%d].name", i), p.Name, "not an interface name")
		}
	}
	return nil
}

// unifiedKeyRE is "controller.file", possibly with more dots
// ("memory.swap.max"): a file name in the cgroup directory, never a path.
var unifiedKeyRE = regexp.MustCompile(`^[a-z_]+\.[a-z0-9_.]+$`)

func unified(r *specs.LinuxResources, _ Env) error {
	for k := range r.Unified {
		if !unifiedKeyRE.MatchString(k) {
			return bad("unified", k, "not a cgroup interface file name (controller.file)")
		}
	}
	return nil
}

func deviceRules(r *specs.LinuxResources, _ Env) error {
	_, err := devices.FromSpec(r.Devices)
	return err
}
