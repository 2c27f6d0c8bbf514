package fs1

import (
	"errors"
	"log/slog"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
)

func setCPU(dir string, r *specs.LinuxResources, _ *slog.Logger) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	if c.Shares != nil && *c.Shares != 0 {
		if err := cgfs.Write(dir, "cpu.shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
			return err
		}
	}
	if err := setQuota(dir, c); err != nil {
		return err
	}
	if c.Burst != nil {
		if err := cgfs.Write(dir, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	// The kernel keeps rt_runtime <= rt_period: the period goes first.
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		if err := cgfs.Write(dir, "cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10)); err != nil {
			return err
		}
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		if err := cgfs.Write(dir, "cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		return cgfs.Write(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10))
	}
	return nil
}

// setQuota writes the CFS period and quota. The kernel checks each write
// against the other value already in place (quota/period must fit the
// parent's), so a period that is refused is retried after the quota.
func setQuota(dir string, c *specs.LinuxCPU) error {
	quota := c.Quota != nil && *c.Quota != 0
	if c.Period != nil && *c.Period != 0 {
		period := strconv.FormatUint(*c.Period, 10)
		if err := cgfs.Write(dir, "cpu.cfs_period_us", period); err != nil {
			if !quota {
				return err
			}
			if qerr := cgfs.Write(dir, "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)); qerr != nil {
				return errors.Join(err, qerr)
			}
			return cgfs.Write(dir, "cpu.cfs_period_us", period)
		}
	}
	if quota {
		return cgfs.Write(dir, "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10))
	}
	return nil
}

func cpuStats(dir string, s *stats.Stats) error {
	kv, err := cgfs.ReadKV(dir, "cpu.stat")
	if err != nil {
		return err
	}
	s.CPU.Throttling = stats.CPUThrottling{
		Periods:          kv["nr_periods"],
		ThrottledPeriods: kv["nr_throttled"],
		ThrottledTime:    kv["throttled_time"],
	}
	return nil
}
