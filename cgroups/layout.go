package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Mode is how the cgroup hierarchies of the host are arranged.
type Mode int

const (
	// V1: one hierarchy per controller (or group of controllers).
	V1 Mode = iota + 1
	// Hybrid: v1 hierarchies plus a cgroup2 mount, which holds the
	// controllers that no v1 hierarchy has.
	Hybrid
	// V2: the single unified hierarchy.
	V2
)

func (m Mode) String() string {
	return map[Mode]string{V1: "v1", Hybrid: "hybrid", V2: "v2"}[m]
}

// Mount is one mounted cgroup hierarchy: where it is mounted and which
// cgroup of the hierarchy that mount point shows (not "/" inside a cgroup
// namespace or for a bind mount of a sub-tree).
type Mount struct {
	Point string
	Root  string
}

// Layout is the host's cgroup arrangement as /proc/self/mountinfo shows it.
type Layout struct {
	Mode Mode
	// V1 maps each v1 controller (and named hierarchy, "name=systemd") to
	// its mount.
	V1 map[string]Mount
	// Unified is the cgroup2 mount, nil when there is none.
	Unified *Mount
	// UnifiedControllers is the root's cgroup.controllers of the cgroup2
	// mount: what the unified hierarchy can enforce.
	UnifiedControllers []string
}

// v1Controllers are the controller names a v1 mount's super options may
// carry; the other options (rw, xattr, release_agent=...) are flags.
var v1Controllers = []string{
	"cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls",
	"perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc", "debug",
}

// ParseMountinfo reads the cgroup mounts of a mountinfo file. The first
// mount of each v1 controller wins (later ones are bind mounts of the same
// hierarchy); of several cgroup2 mounts the one at /sys/fs/cgroup or
// /sys/fs/cgroup/unified is preferred.
func ParseMountinfo(r io.Reader) (v1 map[string]Mount, unified *Mount, err error) {
	v1 = map[string]Mount{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		m := Mount{Point: unescape(f[4]), Root: unescape(f[3])}
		switch g[0] {
		case "cgroup2":
			if unified == nil || m.Point == "/sys/fs/cgroup" || m.Point == "/sys/fs/cgroup/unified" {
				unified = &m
			}
		case "cgroup":
			for opt := range strings.SplitSeq(g[2], ",") {
				if slices.Contains(v1Controllers, opt) || strings.HasPrefix(opt, "name=") {
					if _, seen := v1[opt]; !seen {
						v1[opt] = m
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("parse mountinfo: %w", err)
	}
	return v1, unified, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// DetectLayout reads the layout from a mountinfo file (normally
// /proc/self/mountinfo) and the unified root's cgroup.controllers.
func DetectLayout(mountinfo string) (*Layout, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("cgroup layout: %w", err)
	}
	defer f.Close()
	v1, unified, err := ParseMountinfo(f)
	if err != nil {
		return nil, err
	}
	l := &Layout{V1: v1, Unified: unified}
	hasController := slices.ContainsFunc(slices.Collect(maps.Keys(v1)), func(k string) bool {
		return !strings.HasPrefix(k, "name=")
	})
	switch {
	case hasController && unified != nil:
		l.Mode = Hybrid
	case hasController:
		l.Mode = V1
	case unified != nil:
		// A lone named v1 hierarchy (name=systemd) next to cgroup2 holds
		// no controller; it is not ours to manage.
		l.Mode, l.V1 = V2, map[string]Mount{}
	default:
		return nil, fmt.Errorf("cgroup layout: no cgroup filesystem in %s", mountinfo)
	}
	if unified != nil {
		b, err := os.ReadFile(filepath.Join(unified.Point, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("cgroup layout: %w", err)
		}
		l.UnifiedControllers = strings.Fields(string(b))
	}
	return l, nil
}

// v2Owned is what the cgroup2 part is in charge of: on pure v2
// everything; on the hybrid layout the controllers of cgroup.controllers
// that no v1 hierarchy has (a controller is active in only one hierarchy
// at a time), plus the core features (freezer, devices) where v1 lacks
// the hierarchy.
func (l *Layout) v2Owned() []string {
	if l.Unified == nil {
		return nil
	}
	var out []string
	for _, c := range l.UnifiedControllers {
		if _, onV1 := l.V1[c]; !onV1 {
			out = append(out, c)
		}
	}
	for _, c := range []string{"freezer", "devices"} {
		if _, onV1 := l.V1[c]; !onV1 {
			out = append(out, c)
		}
	}
	return out
}
