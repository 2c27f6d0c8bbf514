package fs1

import (
	"log/slog"
	"math"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
)

const (
	memLimit = "memory.limit_in_bytes"
	memswLim = "memory.memsw.limit_in_bytes"
)

func setMemory(dir string, r *specs.LinuxResources, log *slog.Logger) error {
	m := r.Memory
	if m == nil {
		return nil
	}
	// 0 means "not set", as runc and Docker use it.
	limit, swap := value(m.Limit), value(m.Swap)
	if swap != 0 && !cgfs.Exists(dir, memswLim) {
		// Swap accounting is off (swapaccount=0 or no swap support):
		// there is nothing to limit.
		log.Debug("memory.swap ignored: no swap accounting", "path", dir)
		swap = 0
	}
	// The kernel keeps memsw.limit >= limit at every moment, so when the
	// new memory+swap value is above the current one it must be written
	// first, otherwise last.
	swapFirst := false
	if swap != 0 {
		cur, err := cgfs.ReadUint(dir, memswLim)
		if err != nil {
			return err
		}
		swapFirst = swap == -1 || uint64(swap) > cur
	}
	if swapFirst {
		if err := cgfs.Write(dir, memswLim, strconv.FormatInt(swap, 10)); err != nil {
			return err
		}
	}
	if limit != 0 {
		if err := cgfs.Write(dir, memLimit, strconv.FormatInt(limit, 10)); err != nil {
			return err
		}
	}
	if swap != 0 && !swapFirst {
		if err := cgfs.Write(dir, memswLim, strconv.FormatInt(swap, 10)); err != nil {
			return err
		}
	}
	if v := value(m.KernelTCP); v != 0 {
		// Deprecated by the spec and gone from cgroup v2, but this v1
		// kernel still has the file: honour it where it exists, as crun.
		if cgfs.Exists(dir, "memory.kmem.tcp.limit_in_bytes") {
			if err := cgfs.Write(dir, "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(v, 10)); err != nil {
				return err
			}
		} else {
			log.Debug("memory.kernelTCP ignored: no memory.kmem.tcp.limit_in_bytes", "path", dir)
		}
	}
	if v := value(m.Reservation); v != 0 {
		if err := cgfs.Write(dir, "memory.soft_limit_in_bytes", strconv.FormatInt(v, 10)); err != nil {
			return err
		}
	}
	if m.Swappiness != nil && *m.Swappiness != math.MaxUint64 {
		if err := cgfs.Write(dir, "memory.swappiness", strconv.FormatUint(*m.Swappiness, 10)); err != nil {
			return err
		}
	}
	if m.DisableOOMKiller != nil {
		if err := cgfs.Write(dir, "memory.oom_control", boolString(*m.DisableOOMKiller)); err != nil {
			return err
		}
	}
	if m.UseHierarchy != nil {
		return cgfs.Write(dir, "memory.use_hierarchy", boolString(*m.UseHierarchy))
	}
	return nil
}

func value(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func memoryStats(dir string, s *stats.Stats) error {
	var err error
	if s.Memory.Usage, err = memoryEntry(dir, "memory"); err != nil {
		return err
	}
	// Without swap accounting the memsw files are absent: leave Swap zero.
	if cgfs.Exists(dir, "memory.memsw.usage_in_bytes") {
		if s.Memory.Swap, err = memoryEntry(dir, "memory.memsw"); err != nil {
			return err
		}
	}
	if cgfs.Exists(dir, "memory.kmem.usage_in_bytes") {
		if s.Memory.Kernel, err = memoryEntry(dir, "memory.kmem"); err != nil {
			return err
		}
	}
	if s.Memory.Raw, err = cgfs.ReadKV(dir, "memory.stat"); err != nil {
		return err
	}
	s.Memory.Cache = s.Memory.Raw["cache"]
	s.Memory.OOMKills, err = oomKills(dir)
	return err
}

// memoryEntry reads PREFIX.{usage_in_bytes,max_usage_in_bytes,limit_in_bytes,failcnt}.
func memoryEntry(dir, prefix string) (stats.MemoryEntry, error) {
	var e stats.MemoryEntry
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"usage_in_bytes", &e.Usage}, {"max_usage_in_bytes", &e.Max}, {"limit_in_bytes", &e.Limit}, {"failcnt", &e.Failcnt}} {
		v, err := cgfs.ReadUint(dir, prefix+"."+f.name)
		if err != nil {
			return e, err
		}
		*f.dst = v
	}
	return e, nil
}

// oomKills reads the oom_kill counter of memory.oom_control, which exists
// since Linux 4.13; older kernels count nothing and read as zero.
func oomKills(dir string) (uint64, error) {
	kv, err := cgfs.ReadKV(dir, "memory.oom_control")
	if err != nil {
		return 0, err
	}
	return kv["oom_kill"], nil
}
