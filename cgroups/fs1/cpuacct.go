package fs1

import (
	"fmt"
	"strings"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
)

// nsPerTick converts cpuacct.stat, counted in USER_HZ ticks, to
// nanoseconds: the kernel ABI fixes USER_HZ at 100 per second.
const nsPerTick = 1_000_000_000 / 100

func cpuacctStats(dir string, s *stats.Stats) error {
	total, err := cgfs.ReadUint(dir, "cpuacct.usage")
	if err != nil {
		return err
	}
	s.CPU.Usage.Total = total
	per, err := cgfs.Read(dir, "cpuacct.usage_percpu")
	if err != nil {
		return err
	}
	s.CPU.Usage.PerCPU = nil
	for f := range strings.FieldsSeq(per) {
		v, err := cgfs.ParseUint(f)
		if err != nil {
			return fmt.Errorf("cgroup %s: parse cpuacct.usage_percpu: %w", dir, err)
		}
		s.CPU.Usage.PerCPU = append(s.CPU.Usage.PerCPU, v)
	}
	kv, err := cgfs.ReadKV(dir, "cpuacct.stat")
	if err != nil {
		return err
	}
	s.CPU.Usage.User = kv["user"] * nsPerTick
	s.CPU.Usage.Kernel = kv["system"] * nsPerTick
	return nil
}
