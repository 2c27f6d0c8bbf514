// Package mount holds the one value that passes between storage and the
// runtime: a mount to make, as the snapshotter describes it and the
// runtime (or the engine, for a container's root) performs it.
package mount

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one mount(2): Type "overlay" with lowerdir/upperdir/workdir
// options, "bind" with "rbind"/"ro" options, and so on.
type Mount struct {
	Type    string   `json:"type"`
	Source  string   `json:"source"`
	Target  string   `json:"target,omitempty"`
	Options []string `json:"options,omitempty"`
}

// Mount performs m on target (m.Target is ignored).
func (m Mount) Mount(target string) error {
	var flags uintptr
	var data []string
	for _, o := range m.Options {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		default:
			data = append(data, o)
		}
	}
	// The kernel copies at most one page of option data and silently cuts
	// the rest: an overlay with too many lowers would mount with layers
	// missing. Refuse instead (snapshot/overlay.MountAt mounts long
	// chains another way).
	if opts := strings.Join(data, ","); len(opts) >= unix.Getpagesize() {
		return fmt.Errorf("mount %s on %s: %d bytes of options exceed the kernel's page: %w", m.Type, target, len(opts), unix.E2BIG)
	}
	typ := m.Type
	if typ == "bind" {
		typ = ""
		flags |= unix.MS_BIND
	}
	if err := unix.Mount(m.Source, target, typ, flags, strings.Join(data, ",")); err != nil {
		return fmt.Errorf("mount %s %s on %s: %w", m.Type, m.Source, target, err)
	}
	// A read-only bind needs a remount: the first call ignores MS_RDONLY.
	if flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return nil
}

// Unmount detaches target, once it is no longer busy for new users.
func Unmount(target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}
