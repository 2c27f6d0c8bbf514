package volume

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/mountinfo"
)

// Docker's local driver takes three options, and all of them go together:
// `--opt type=tmpfs --opt device=tmpfs --opt o=size=100m,uid=1000` mounts a
// tmpfs as the volume, `--opt type=none --opt device=/srv --opt o=bind`
// binds a host directory. The mount is made on _data when the first
// container starts with the volume and undone after the last one stops, as
// Docker's local driver does.

// requiredWith is Docker's mandatoryOpts: type and device need each other,
// o needs both.
var requiredWith = map[string][]string{
	"type":   {"device"},
	"device": {"type"},
	"o":      {"type", "device"},
}

func validateOptions(opts map[string]string) error {
	for k := range opts {
		if _, ok := requiredWith[k]; !ok {
			return errdefs.InvalidArgument("invalid option: %q (the local driver takes type, device and o)", k)
		}
	}
	for k := range opts {
		for _, r := range requiredWith[k] {
			if _, ok := opts[r]; !ok {
				return errdefs.InvalidArgument("missing required option: %q", r)
			}
		}
	}
	if len(opts) > 0 {
		if _, _, err := mountFlags(opts["o"]); err != nil {
			return err
		}
	}
	return nil
}

// mountFlagTable holds the words of o that are mount(2) flags; the rest
// is the filesystem's data (size=, uid=, addr= ...).
var mountFlagTable = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"bind":        {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"defaults": {false, 0},
}

func mountFlags(o string) (flags uintptr, data string, err error) {
	var rest []string
	for _, w := range strings.Split(o, ",") {
		if w == "" {
			continue
		}
		if f, ok := mountFlagTable[w]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if strings.ContainsAny(w, "\x00") {
			return 0, "", errdefs.InvalidArgument("invalid mount option %q", w)
		}
		rest = append(rest, w)
	}
	return flags, strings.Join(rest, ","), nil
}

// Mount makes the volume ready for container id and returns the path to
// bind into it. For a volume with options the first container's Mount
// mounts the volume's filesystem on _data; the others only join it.
func (s *Store) Mount(name, id string) (string, error) {
	l, err := s.lock()
	if err != nil {
		return "", err
	}
	defer l.Unlock()
	v, err := s.read(name)
	if err != nil {
		return "", err
	}
	if len(v.Options) == 0 || slices.Contains(v.MountedBy, id) {
		return v.Mountpoint, nil
	}
	if len(v.MountedBy) == 0 {
		if err := unmountIfMounted(v.Mountpoint); err != nil {
			return "", fmt.Errorf("volume %s: mount: %w", name, err)
		}
		if err := mountOptions(v); err != nil {
			return "", fmt.Errorf("volume %s: mount: %w", name, err)
		}
	}
	v.MountedBy = append(v.MountedBy, id)
	if err := s.write(v); err != nil {
		if len(v.MountedBy) == 1 {
			unix.Unmount(v.Mountpoint, unix.MNT_DETACH)
		}
		return "", err
	}
	return v.Mountpoint, nil
}

// Unmount undoes Mount for container id; the last one takes the volume's
// filesystem down. Unmounting what is not mounted is no error.
func (s *Store) Unmount(name, id string) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	v, err := s.read(name)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	i := slices.Index(v.MountedBy, id)
	if i < 0 {
		return nil
	}
	if len(v.MountedBy) == 1 {
		if err := unmountIfMounted(v.Mountpoint); err != nil {
			return fmt.Errorf("volume %s: unmount: %w", name, err)
		}
	}
	v.MountedBy = slices.Delete(v.MountedBy, i, i+1)
	return s.write(v)
}

func mountOptions(v *Volume) error {
	flags, data, err := mountFlags(v.Options["o"])
	if err != nil {
		return err
	}
	device, fstype := v.Options["device"], v.Options["type"]
	if flags&unix.MS_BIND != 0 {
		// Bind first; ro and the like only take effect on a remount.
		if err := unix.Mount(device, v.Mountpoint, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return &os.PathError{Op: "mount", Path: device + " on " + v.Mountpoint, Err: err}
		}
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := unix.Mount("", v.Mountpoint, "", unix.MS_BIND|unix.MS_REMOUNT|rest, ""); err != nil {
				unix.Unmount(v.Mountpoint, unix.MNT_DETACH)
				return &os.PathError{Op: "remount", Path: v.Mountpoint, Err: err}
			}
		}
		return nil
	}
	if err := unix.Mount(device, v.Mountpoint, fstype, flags, data); err != nil {
		return &os.PathError{Op: "mount " + fstype, Path: device + " on " + v.Mountpoint, Err: err}
	}
	return nil
}

// unmountIfMounted takes down a mount on path, if there is one: a path is
// a mount point when its mount ID differs from its parent's (statx
// STATX_MNT_ID), which also sees bind mounts of the same filesystem.
func unmountIfMounted(path string) error {
	mounted, err := mountinfo.IsMountPoint(path)
	if err != nil || !mounted {
		return err
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount", Path: path, Err: err}
	}
	return nil
}
