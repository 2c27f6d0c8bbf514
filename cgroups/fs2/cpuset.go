package fs2

import (
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
)

// setCpuset writes cpuset.cpus and cpuset.mems. Unlike v1, an empty v2
// cpuset means "inherit the parent's", so new cgroups need no filling.
func setCpuset(dir string, r *specs.LinuxResources, _ *slog.Logger) error {
	if r.CPU.Cpus != "" {
		if err := cgfs.Write(dir, "cpuset.cpus", r.CPU.Cpus); err != nil {
			return err
		}
	}
	if r.CPU.Mems != "" {
		return cgfs.Write(dir, "cpuset.mems", r.CPU.Mems)
	}
	return nil
}
