package fs2

import (
	"log/slog"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
)

// SharesToWeight maps v1 cpu.shares (2..262144) onto v2 cpu.weight
// (1..10000) linearly, the conversion runc and crun use, so that a value
// means the same to every runtime.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	return 1 + ((shares-2)*9999)/262142
}

func setCPU(dir string, r *specs.LinuxResources, _ *slog.Logger) error {
	c := r.CPU
	if c.Shares != nil && *c.Shares != 0 {
		if err := cgfs.Write(dir, "cpu.weight", strconv.FormatUint(SharesToWeight(*c.Shares), 10)); err != nil {
			return err
		}
	}
	if err := setMax(dir, c); err != nil {
		return err
	}
	if c.Burst != nil {
		if err := cgfs.Write(dir, "cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		return cgfs.Write(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10))
	}
	return nil
}

// setMax writes cpu.max, "QUOTA PERIOD" in one line; a value the spec
// leaves unset keeps what the file holds.
func setMax(dir string, c *specs.LinuxCPU) error {
	hasQuota := c.Quota != nil && *c.Quota != 0
	hasPeriod := c.Period != nil && *c.Period != 0
	if !hasQuota && !hasPeriod {
		return nil
	}
	cur, err := cgfs.Read(dir, "cpu.max")
	if err != nil {
		return err
	}
	quota, period, _ := strings.Cut(cur, " ")
	if hasQuota {
		quota = limitString(*c.Quota)
	}
	if hasPeriod {
		period = strconv.FormatUint(*c.Period, 10)
	}
	return cgfs.Write(dir, "cpu.max", quota+" "+period)
}

// cpuStats converts cpu.stat, counted in microseconds, to the nanoseconds
// of the v1 counters. cpu.stat exists in every v2 cgroup; the throttling
// keys appear only with the cpu controller enabled.
func cpuStats(dir string, s *stats.Stats) error {
	kv, err := cgfs.ReadKV(dir, "cpu.stat")
	if err != nil {
		return err
	}
	s.CPU.Usage.Total = kv["usage_usec"] * 1000
	s.CPU.Usage.User = kv["user_usec"] * 1000
	s.CPU.Usage.Kernel = kv["system_usec"] * 1000
	s.CPU.Throttling = stats.CPUThrottling{
		Periods:          kv["nr_periods"],
		ThrottledPeriods: kv["nr_throttled"],
		ThrottledTime:    kv["throttled_usec"] * 1000,
	}
	return nil
}
