package fs1

import (
	"fmt"
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
)

func setNetPrio(dir string, r *specs.LinuxResources, _ *slog.Logger) error {
	if r.Network == nil {
		return nil
	}
	// ifpriomap takes one "interface priority" pair per write.
	for _, p := range r.Network.Priorities {
		if err := cgfs.Write(dir, "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
			return err
		}
	}
	return nil
}
