package fs1

import (
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/devices"
)

// setDevices writes the rules in order to devices.allow and devices.deny;
// the kernel then holds the same state as the rules describe (a leading
// "deny all" resets the list, each later rule adds an exception). When the
// cgroup already holds exactly that state (a live update), nothing is
// written: rewriting would open a moment in which every device is denied.
func setDevices(dir string, r *specs.LinuxResources, log *slog.Logger) error {
	if len(r.Devices) == 0 {
		return nil
	}
	rules, err := devices.FromSpec(r.Devices)
	if err != nil {
		return err
	}
	list, err := cgfs.Read(dir, "devices.list")
	if err != nil {
		return err
	}
	if cur, known := devices.ParseList(list); known && cur.Apply(rules).Equal(cur) {
		log.Debug("device rules unchanged", "path", dir)
		return nil
	}
	for _, rule := range rules {
		file := "devices.deny"
		if rule.Allow {
			file = "devices.allow"
		}
		if err := cgfs.Write(dir, file, rule.String()); err != nil {
			return err
		}
	}
	return nil
}
