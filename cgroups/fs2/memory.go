package fs2

import (
	"log/slog"
	"math"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
	"hutch.dev/hutch/errdefs"
)

func setMemory(dir string, r *specs.LinuxResources, log *slog.Logger) error {
	m := r.Memory
	swap, err := swapMax(m)
	if err != nil {
		return err
	}
	// swap.max goes first: lowering memory.max reclaims, and reclaim may
	// push pages to swap under the old swap limit.
	if swap != "" {
		if !cgfs.Exists(dir, "memory.swap.max") {
			log.Debug("memory.swap ignored: no swap accounting", "path", dir)
		} else if err := cgfs.Write(dir, "memory.swap.max", swap); err != nil {
			return err
		}
	}
	if m.Limit != nil && *m.Limit != 0 {
		if err := cgfs.Write(dir, "memory.max", limitString(*m.Limit)); err != nil {
			return err
		}
	}
	if m.Reservation != nil && *m.Reservation != 0 {
		if err := cgfs.Write(dir, "memory.low", limitString(*m.Reservation)); err != nil {
			return err
		}
	}
	// v2 has no swappiness, OOM-killer switch or hierarchy switch per
	// cgroup (the hierarchy is always on).
	if m.Swappiness != nil || m.DisableOOMKiller != nil {
		log.Debug("memory.swappiness and disableOOMKiller ignored on cgroup v2", "path", dir)
	}
	return nil
}

// limitString spells a v1-style limit for v2: -1 is "max".
func limitString(v int64) string {
	if v == -1 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// swapMax converts the OCI memory+swap value to v2's memory.swap.max,
// which counts swap alone: swap.max = swap - limit. "" means leave it.
func swapMax(m *specs.LinuxMemory) (string, error) {
	if m.Swap == nil || *m.Swap == 0 {
		return "", nil
	}
	swap := *m.Swap
	if swap == -1 {
		return "max", nil
	}
	if m.Limit == nil || *m.Limit <= 0 {
		return "", errdefs.InvalidArgument("linux.resources.memory.swap %d: on cgroup v2 swap needs a memory limit (memory.swap.max = swap - limit)", swap)
	}
	if swap < *m.Limit {
		return "", errdefs.InvalidArgument("linux.resources.memory.swap %d: memory+swap must not be below the memory limit %d", swap, *m.Limit)
	}
	return strconv.FormatInt(swap-*m.Limit, 10), nil
}

func memoryStats(dir string, s *stats.Stats) error {
	var err error
	mem := &s.Memory
	if mem.Usage.Usage, err = cgfs.ReadUint(dir, "memory.current"); err != nil {
		return err
	}
	// memory.peak exists since Linux 5.19.
	if cgfs.Exists(dir, "memory.peak") {
		if mem.Usage.Max, err = cgfs.ReadUint(dir, "memory.peak"); err != nil {
			return err
		}
	}
	if mem.Usage.Limit, err = cgfs.ReadUint(dir, "memory.max"); err != nil {
		return err
	}
	events, err := cgfs.ReadKV(dir, "memory.events")
	if err != nil {
		return err
	}
	mem.Usage.Failcnt = events["max"]
	mem.OOMKills = events["oom_kill"]
	if mem.Raw, err = cgfs.ReadKV(dir, "memory.stat"); err != nil {
		return err
	}
	mem.Cache = mem.Raw["file"]
	mem.Kernel.Usage = mem.Raw["kernel"]
	if mem.Kernel.Usage == 0 {
		mem.Kernel.Usage = mem.Raw["kernel_stack"] + mem.Raw["slab"]
	}
	// Swap is reported as memory+swap, the v1 meaning that consumers of
	// these stats (runc's events, Docker) expect on both versions.
	if cgfs.Exists(dir, "memory.swap.current") {
		cur, err := cgfs.ReadUint(dir, "memory.swap.current")
		if err != nil {
			return err
		}
		lim, err := cgfs.ReadUint(dir, "memory.swap.max")
		if err != nil {
			return err
		}
		mem.Swap.Usage = cur + mem.Usage.Usage
		mem.Swap.Limit = addSat(lim, mem.Usage.Limit)
		if ev, err := cgfs.ReadKV(dir, "memory.swap.events"); err == nil {
			mem.Swap.Failcnt = ev["fail"]
		}
	}
	return nil
}

func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

func oomKills(dir string) (uint64, error) {
	events, err := cgfs.ReadKV(dir, "memory.events")
	if err != nil {
		return 0, err
	}
	return events["oom_kill"], nil
}
