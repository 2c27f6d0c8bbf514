package fs2

import (
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
)

func setPids(dir string, r *specs.LinuxResources, _ *slog.Logger) error {
	return cgfs.Write(dir, "pids.max", cgfs.PidsMax(*r.Pids.Limit))
}

func pidsStats(dir string, s *stats.Stats) error {
	var err error
	s.Pids, err = cgfs.PidsStats(dir)
	return err
}
