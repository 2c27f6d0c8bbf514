package fs1

import (
	"log/slog"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
)

func setNetCls(dir string, r *specs.LinuxResources, _ *slog.Logger) error {
	if r.Network == nil || r.Network.ClassID == nil {
		return nil
	}
	return cgfs.Write(dir, "net_cls.classid", strconv.FormatUint(uint64(*r.Network.ClassID), 10))
}
