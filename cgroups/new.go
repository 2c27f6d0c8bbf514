package cgroups

import (
	"fmt"
	"maps"
	"os"
	"slices"

	"hutch.dev/hutch/cgroups/fs1"
	"hutch.dev/hutch/cgroups/fs2"
	"hutch.dev/hutch/errdefs"
)

// New returns the Manager of a container's cgroup, for the host's layout
// (v1, hybrid or v2, read from /proc/self/mountinfo). It creates nothing:
// Set and Apply create the cgroups when first called.
//
// cgroupsPath follows runc's cgroupfs driver: an absolute path is taken
// from the root of each hierarchy; a relative one from the caller's own
// cgroup in that hierarchy (/proc/self/cgroup, which may differ per
// controller); an empty one is the relative path containerID.
func New(cgroupsPath, containerID string, opts ...Option) (Manager, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if o.systemd {
		return nil, errdefs.NotImplemented("systemd cgroup driver (--systemd-cgroup) not supported: hutch manages cgroupfs directly; give cgroupsPath as a path without --systemd-cgroup")
	}
	p, abs, err := cleanCgroupsPath(cgroupsPath, containerID)
	if err != nil {
		return nil, err
	}
	layout, err := DetectLayout(o.mountinfo)
	if err != nil {
		return nil, err
	}
	own := map[string]string{}
	if !abs {
		f, err := os.Open(o.procCgroup)
		if err != nil {
			return nil, fmt.Errorf("cgroup of the caller: %w", err)
		}
		own, err = ParseProcCgroup(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	paths := map[string]string{}
	for c, m := range layout.V1 {
		paths[c] = resolve(m, own[c], p, abs)
	}
	if layout.Unified != nil {
		paths[""] = resolve(*layout.Unified, own[""], p, abs)
	}
	return build(layout, paths, o)
}

// Load returns the Manager of cgroups created earlier, from the map that
// Paths returned then (the runtime keeps it in its state file). Unlike
// calling New again, it does not depend on the caller's own cgroup, which
// for a later command (delete, pause, events) may differ from the creating
// process's. The host's layout is read again to know which controllers
// each hierarchy holds.
func Load(paths map[string]string, opts ...Option) (Manager, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if len(paths) == 0 {
		return nil, errdefs.InvalidArgument("cgroup paths: empty")
	}
	layout, err := DetectLayout(o.mountinfo)
	if err != nil {
		return nil, err
	}
	for _, c := range slices.Sorted(maps.Keys(paths)) {
		if c == "" && layout.Unified == nil {
			return nil, errdefs.FailedPrecondition("cgroup %s: no cgroup2 hierarchy is mounted now", paths[c])
		}
		if _, ok := layout.V1[c]; c != "" && !ok {
			return nil, errdefs.FailedPrecondition("cgroup %s: controller %s has no v1 hierarchy mounted now", paths[c], c)
		}
	}
	return build(layout, paths, o)
}

// build makes the manager of the given per-hierarchy directories: fs1 for
// the v1 ones, fs2 for the unified one, both on the hybrid layout.
func build(layout *Layout, paths map[string]string, o options) (Manager, error) {
	m := &manager{log: o.log}
	v1paths, roots := map[string]string{}, map[string]string{}
	for c, p := range paths {
		if c != "" {
			v1paths[c], roots[c] = p, layout.V1[c].Point
		}
	}
	var err error
	if len(v1paths) > 0 {
		if m.v1, err = fs1.New(v1paths, roots, o.log); err != nil {
			return nil, err
		}
		m.v1.HugePageDir = o.hugePageDir
	}
	if dir, ok := paths[""]; ok {
		owned := fs2.AllControllers
		if layout.Mode != V2 {
			owned = layout.v2Owned()
		}
		if m.v2, err = fs2.New(dir, layout.Unified.Point, owned, o.log); err != nil {
			return nil, err
		}
		m.v2.HugePageDir = o.hugePageDir
	}
	o.log.Debug("cgroup manager", "layout", layout.Mode.String(), "paths", paths)
	return m, nil
}
