package fs2

import (
	"maps"
	"slices"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/errdefs"
)

// setUnified writes the raw key/values of linux.resources.unified, in key
// order so that a failure is reproducible. Validate has checked the keys.
func setUnified(dir string, u map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(u)) {
		if !cgfs.Exists(dir, k) {
			return errdefs.InvalidArgument("linux.resources.unified %q: cgroup %s has no such file", k, dir)
		}
		if err := cgfs.Write(dir, k, u[k]); err != nil {
			return err
		}
	}
	return nil
}
