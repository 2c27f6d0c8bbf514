package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// defaultDeviceRules is Docker's device cgroup list: deny everything, then
// allow zero, null, urandom, random, tty and console, and deny /dev/fuse
// again (Docker's list has no /dev/full). The runtime adds the rest every container needs
// (/dev/pts/*, /dev/ptmx, mknod of any node) as runc does.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	rule := func(allow bool, major, minor int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: allow, Type: "c", Major: ptr(major), Minor: ptr(minor), Access: "rwm"}
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		rule(true, 1, 5),     // /dev/zero
		rule(true, 1, 3),     // /dev/null
		rule(true, 1, 9),     // /dev/urandom
		rule(true, 1, 8),     // /dev/random
		rule(true, 5, 0),     // /dev/tty
		rule(true, 5, 1),     // /dev/console
		rule(false, 10, 229), // /dev/fuse
	}
}

// devices fills linux.devices and the device cgroup rules: --device
// mappings (a directory brings every device below it, as Docker), and for
// a privileged container every device of the host with all access.
func devices(o *Options, s *specs.Spec) error {
	rules := defaultDeviceRules()
	var devs []specs.LinuxDevice
	if o.Privileged {
		host, err := hostDevices()
		if err != nil {
			return err
		}
		devs = host
		rules = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	for _, d := range o.Devices {
		perms := d.Permissions
		if perms == "" {
			perms = "rwm"
		}
		if !validDeviceMode(perms) {
			return errdefs.InvalidArgument("spec: --device %q: invalid permissions %q: a combination of r, w and m", d.PathOnHost, perms)
		}
		in := d.PathInContainer
		if in == "" {
			in = d.PathOnHost
		}
		if !filepath.IsAbs(in) {
			return errdefs.InvalidArgument("spec: --device %q: path in container %q is not absolute", d.PathOnHost, in)
		}
		in = filepath.Clean(in)
		// Docker: in a privileged container the host's /dev is there
		// already; only a mapping to another path adds anything, and the
		// permissions are all of them anyway.
		if o.Privileged && filepath.Clean(d.PathOnHost) == in {
			continue
		}
		found, err := devicesFromPath(d.PathOnHost, in)
		if err != nil {
			return err
		}
		for _, dev := range found {
			devs = append(devs, dev)
			if !o.Privileged {
				rules = append(rules, specs.LinuxDeviceCgroup{
					Allow: true, Type: dev.Type, Major: ptr(dev.Major), Minor: ptr(dev.Minor), Access: perms,
				})
			}
		}
	}
	s.Linux.Devices = devs
	s.Linux.Resources.Devices = rules
	return nil
}

func validDeviceMode(m string) bool {
	if m == "" || len(m) > 3 {
		return false
	}
	for i, c := range m {
		if !strings.ContainsRune("rwm", c) || strings.ContainsRune(m[i+1:], c) {
			return false
		}
	}
	return true
}

// devicesFromPath is Docker's DevicesFromPath: a symlink on the host is
// followed (/dev/disk/by-id/...); a device node is one device; a directory
// is every block and character device below it, placed at the same
// relative path under in. Anything else is refused.
func devicesFromPath(host, in string) ([]specs.LinuxDevice, error) {
	resolved, err := filepath.EvalSymlinks(host)
	if err != nil {
		return nil, errdefs.InvalidArgument("spec: --device %q: %v", host, unwrapPath(err))
	}
	dev, err := deviceFromPath(resolved)
	if err == nil {
		dev.Path = in
		return []specs.LinuxDevice{*dev}, nil
	}
	if err != errNotDevice {
		return nil, errdefs.InvalidArgument("spec: --device %q: %v", host, unwrapPath(err))
	}
	fi, serr := os.Stat(resolved)
	if serr != nil || !fi.IsDir() {
		return nil, errdefs.InvalidArgument("spec: --device %q: not a device node (%s)", host, fileKind(fi))
	}
	var devs []specs.LinuxDevice
	werr := filepath.WalkDir(resolved, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 {
			return nil
		}
		d, err := deviceFromPath(p)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(resolved, p)
		d.Path = filepath.Join(in, rel)
		devs = append(devs, *d)
		return nil
	})
	if werr != nil {
		return nil, werr
	}
	if len(devs) == 0 {
		return nil, errdefs.InvalidArgument("spec: --device %q: a directory with no device nodes", host)
	}
	return devs, nil
}

var errNotDevice = errors.New("not a device node")

// deviceFromPath describes the block or character device at p (not
// following a symlink), or returns errNotDevice.
func deviceFromPath(p string) (*specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		typ = "b"
	case unix.S_IFCHR:
		typ = "c"
	default:
		return nil, errNotDevice
	}
	rdev := uint64(st.Rdev) //nolint:unconvert // 32 bits on mips
	mode := os.FileMode(st.Mode &^ unix.S_IFMT)
	uid, gid := st.Uid, st.Gid
	return &specs.LinuxDevice{
		Type:     typ,
		Path:     p,
		Major:    int64(unix.Major(rdev)),
		Minor:    int64(unix.Minor(rdev)),
		FileMode: &mode,
		UID:      &uid,
		GID:      &gid,
	}, nil
}

// hostDevices lists the host's /dev for a privileged container, as
// containerd's HostDevices: not pts, shm, fd, mqueue, the lxc/lxd/udev
// private directories or /dev/console (the runtime makes the container's
// own), nor anything that is not a device node.
func hostDevices() ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			switch {
			case e.IsDir():
				switch e.Name() {
				case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
					continue
				}
				if err := walk(p); err != nil && !os.IsPermission(err) {
					return err
				}
			case e.Name() == "console":
			case e.Type()&fs.ModeDevice != 0:
				d, err := deviceFromPath(p)
				if err != nil {
					continue // gone meanwhile, or unreadable
				}
				out = append(out, *d)
			}
		}
		return nil
	}
	if err := walk("/dev"); err != nil {
		return nil, err
	}
	return out, nil
}

func fileKind(fi os.FileInfo) string {
	switch {
	case fi == nil:
		return "missing"
	case fi.Mode().IsRegular():
		return "a regular file"
	case fi.Mode()&os.ModeNamedPipe != 0:
		return "a FIFO"
	case fi.Mode()&os.ModeSocket != 0:
		return "a socket"
	default:
		return fi.Mode().Type().String()
	}
}

// unwrapPath drops the path from a *PathError already named by the caller.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func closeFd(fd int) { unix.Close(fd) }
