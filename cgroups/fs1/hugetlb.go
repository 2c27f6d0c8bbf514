package fs1

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
		if err := cgfs.Write(dir, "hugetlb."+h.Pagesize+".limit_in_bytes", v); err != nil {
			return err
		}
		// Since Linux 5.7 reservations are limited separately; the spec
		// asks for reservation limits where they exist.
		if f := "hugetlb." + h.Pagesize + ".rsvd.limit_in_bytes"; cgfs.Exists(dir, f) {
			if err := cgfs.Write(dir, f, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func hugetlbStats(dir string, s *stats.Stats) error {
	files, err := filepath.Glob(filepath.Join(dir, "hugetlb.*.usage_in_bytes"))
	if err != nil {
		return err
	}
	for _, f := range files {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "hugetlb."), ".usage_in_bytes")
		if strings.Contains(size, ".") { // hugetlb.2MB.rsvd.usage_in_bytes
			continue
		}
		var h stats.HugetlbStats
		p := "hugetlb." + size + "."
		if h.Usage, err = cgfs.ReadUint(dir, p+"usage_in_bytes"); err != nil {
			return err
		}
		if h.Max, err = cgfs.ReadUint(dir, p+"max_usage_in_bytes"); err != nil {
			return err
		}
		if h.Failcnt, err = cgfs.ReadUint(dir, p+"failcnt"); err != nil {
			return err
		}
		if s.Hugetlb == nil {
			s.Hugetlb = map[string]stats.HugetlbStats{}
		}
		s.Hugetlb[size] = h
	}
	return nil
}
