package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"hutch.dev/hutch/errdefs"
)

// ParseProcCgroup reads /proc/PID/cgroup ("ID:CONTROLLERS:PATH" lines)
// into a map from controller to the process's cgroup path; the cgroup2
// line ("0::/path") is under the key "".
func ParseProcCgroup(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse /proc/self/cgroup: %w", err)
	}
	return out, nil
}

// systemdForm is runc's systemd cgroupsPath, "slice:prefix:name".
var systemdForm = regexp.MustCompile(`^[^/:]*:[^/:]*:[^/:]+$`)

// cleanCgroupsPath checks the OCI cgroupsPath and returns it cleaned, with
// whether it is absolute. An empty path means containerID below the
// caller's cgroup, as runc's cgroupfs driver does.
func cleanCgroupsPath(p, containerID string) (string, bool, error) {
	if systemdForm.MatchString(p) {
		return "", false, errdefs.InvalidArgument("cgroupsPath %q: the slice:prefix:name form is for a systemd cgroup manager, and hutch has none; give a path", p)
	}
	if p == "" {
		if containerID == "" || strings.Contains(containerID, "/") || containerID == "." || containerID == ".." {
			return "", false, errdefs.InvalidArgument("container id %q: not usable as a cgroup name", containerID)
		}
		p = containerID
	}
	abs := filepath.IsAbs(p)
	// Walk the components so that ".." cannot climb above the base (the
	// hierarchy root for an absolute path, the caller's cgroup for a
	// relative one): filepath.Clean would silently stop at "/".
	depth := 0
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return "", false, errdefs.InvalidArgument("cgroupsPath %q: leaves the cgroup root", p)
			}
		default:
			depth++
		}
	}
	if depth == 0 {
		return "", false, errdefs.InvalidArgument("cgroupsPath %q: names the root (or the caller's own) cgroup, not one for the container", p)
	}
	return filepath.Clean(p), abs, nil
}

// resolve gives the directory of the container's cgroup in one hierarchy.
// own is the caller's cgroup in that hierarchy (from /proc/self/cgroup).
func resolve(m Mount, own, p string, abs bool) string {
	if abs {
		return filepath.Join(m.Point, p)
	}
	// own is relative to the hierarchy's root; the mount shows the
	// sub-tree at m.Root. A caller outside that sub-tree (possible with a
	// bind-mounted sub-tree) falls back to the mount point.
	rel, err := filepath.Rel(m.Root, own)
	if err != nil || !filepath.IsLocal(rel) {
		rel = "."
	}
	return filepath.Join(m.Point, rel, p)
}
