package validate

import specs "github.com/opencontainers/runtime-spec/specs-go"

// Requested reports whether r asks anything of the controller, named as
// on v1 ("blkio") or v2 ("io"). Deprecated kernel-memory fields ask
// nothing: no current kernel enforces them.
func Requested(r *specs.LinuxResources, controller string) bool {
	if r == nil {
		return false
	}
	switch controller {
	case "memory":
		m := r.Memory
		return m != nil && (m.Limit != nil || m.Reservation != nil || m.Swap != nil ||
			m.Swappiness != nil || m.DisableOOMKiller != nil || m.UseHierarchy != nil)
	case "cpu":
		c := r.CPU
		return c != nil && (c.Shares != nil && *c.Shares != 0 || c.Quota != nil && *c.Quota != 0 ||
			c.Period != nil && *c.Period != 0 || c.Burst != nil || c.Idle != nil ||
			c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 || c.RealtimePeriod != nil && *c.RealtimePeriod != 0)
	case "cpuset":
		return r.CPU != nil && (r.CPU.Cpus != "" || r.CPU.Mems != "")
	case "pids":
		return r.Pids != nil && r.Pids.Limit != nil
	case "blkio", "io":
		b := r.BlockIO
		return b != nil && (b.Weight != nil && *b.Weight != 0 || b.LeafWeight != nil && *b.LeafWeight != 0 ||
			len(b.WeightDevice) > 0 || len(b.ThrottleReadBpsDevice) > 0 || len(b.ThrottleWriteBpsDevice) > 0 ||
			len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0)
	case "devices":
		return len(r.Devices) > 0
	case "hugetlb":
		return len(r.HugepageLimits) > 0
	case "net_cls":
		return r.Network != nil && r.Network.ClassID != nil
	case "net_prio":
		return r.Network != nil && len(r.Network.Priorities) > 0
	}
	return false
}
