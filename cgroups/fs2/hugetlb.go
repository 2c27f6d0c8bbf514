package fs2

import (
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
)

func setHugetlb(dir string, r *specs.LinuxResources, _ *slog.Logger) error {
	for _, h := range r.HugepageLimits {
		v := strconv.FormatUint(h.Limit, 10)
		if err := cgfs.Write(dir, "hugetlb."+h.Pagesize+".max", v); err != nil {
			return err
		}
		// The spec asks for reservation limits where the kernel has them
		// (Linux 5.7+): they also catch pages reserved but not faulted in.
		if f := "hugetlb." + h.Pagesize + ".rsvd.max"; cgfs.Exists(dir, f) {
			if err := cgfs.Write(dir, f, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// hugetlbStats reads hugetlb.SIZE.current and the "max" count of
// hugetlb.SIZE.events (allocations refused by the limit) as the failcnt.
// v2 keeps no peak usage.
func hugetlbStats(dir string, s *stats.Stats) error {
	files, err := filepath.Glob(filepath.Join(dir, "hugetlb.*.current"))
	if err != nil {
		return err
	}
	for _, f := range files {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "hugetlb."), ".current")
		if strings.Contains(size, ".") { // hugetlb.2MB.rsvd.current
			continue
		}
		var h stats.HugetlbStats
		if h.Usage, err = cgfs.ReadUint(dir, "hugetlb."+size+".current"); err != nil {
			return err
		}
		if ev, err := cgfs.ReadKV(dir, "hugetlb."+size+".events"); err == nil {
			h.Failcnt = ev["max"]
		}
		if s.Hugetlb == nil {
			s.Hugetlb = map[string]stats.HugetlbStats{}
		}
		s.Hugetlb[size] = h
	}
	return nil
}
