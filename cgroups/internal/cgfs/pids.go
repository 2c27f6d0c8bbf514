package cgfs

import (
	"math"
	"strconv"

	"hutch.dev/hutch/cgroups/internal/stats"
)

// PidsMax is pids.max for an OCI limit, the same on v1 and v2: 0 and -1
// both mean no limit, written "max".
func PidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

// PidsStats reads pids.current and pids.max ("max" is reported as 0, no
// limit).
func PidsStats(dir string) (stats.PidsStats, error) {
	var s stats.PidsStats
	var err error
	if s.Current, err = ReadUint(dir, "pids.current"); err != nil {
		return s, err
	}
	if s.Limit, err = ReadUint(dir, "pids.max"); err != nil {
		return s, err
	}
	if s.Limit == math.MaxUint64 {
		s.Limit = 0
	}
	return s, nil
}
