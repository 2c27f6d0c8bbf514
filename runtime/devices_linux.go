package runtime

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDevices are created in every container whose /dev is not the
// host's, as runc and Docker do.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// createDevices makes the default devices, the spec's linux.devices and
// the /dev links. In a user namespace mknod is not allowed: the host's
// device is bind-mounted instead.
func createDevices(spec *specs.Spec, rootfd int, userns bool) error {
	devs := append([]specs.LinuxDevice{}, defaultDevices...)
	devs = append(devs, spec.Linux.Devices...)
	for _, d := range devs {
		if err := createDevice(rootfd, d, userns); err != nil {
			return fmt.Errorf("linux.devices %s: %w", d.Path, err)
		}
	}
	links := [][2]string{
		{"/proc/self/fd", "dev/fd"}, {"/proc/self/fd/0", "dev/stdin"},
		{"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "dev/core"})
	}
	dev, err := openInRoot(rootfd, "dev", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	defer unix.Close(dev)
	for _, l := range links {
		if err := unix.Symlinkat(l[0], rootfd, l[1]); err != nil && err != unix.EEXIST {
			return fmt.Errorf("symlink /%s: %w", l[1], err)
		}
	}
	// /dev/ptmx must be the container's devpts multiplexer.
	if fd, err := openInRoot(rootfd, "dev/pts/ptmx", unix.O_PATH); err == nil {
		unix.Close(fd)
		unix.Unlinkat(dev, "ptmx", 0)
		if err := unix.Symlinkat("pts/ptmx", dev, "ptmx"); err != nil {
			return fmt.Errorf("symlink /dev/ptmx: %w", err)
		}
	}
	return nil
}

func createDevice(rootfd int, d specs.LinuxDevice, userns bool) error {
	var mode uint32
	switch d.Type {
	case "c", "u":
		mode = unix.S_IFCHR
	case "b":
		mode = unix.S_IFBLK
	case "p":
		mode = unix.S_IFIFO
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(*d.FileMode & 0o7777)
	}
	parent, err := mkdirAllInRoot(rootfd, dirOf(d.Path), false)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	name := baseOf(d.Path)
	// A device may already exist (a bind of the host's, or the image's
	// own node): replace it so the spec's numbers win.
	unix.Unlinkat(parent, name, 0)
	if userns && d.Type != "p" {
		return bindDevice(parent, name, d.Path)
	}
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if err := unix.Mknodat(parent, name, mode|perm, int(dev)); err != nil {
		if err == unix.EPERM && d.Type != "p" {
			return bindDevice(parent, name, d.Path)
		}
		return err
	}
	fd, err := unix.Openat(parent, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// mknod is subject to the umask: set the mode explicitly.
	if err := unix.Fchmodat(unix.AT_FDCWD, fdPath(fd), perm, 0); err != nil {
		return err
	}
	uid, gid := -1, -1
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if uid != -1 || gid != -1 {
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			return err
		}
	}
	return nil
}

func bindDevice(parent int, name, hostPath string) error {
	fd, err := unix.Openat(parent, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Mount(hostPath, fdPath(fd), "", unix.MS_BIND, "")
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "."
}

func baseOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// deviceRules is the cgroup device list the container gets: the spec's
// own rules, then the devices every container needs (and mknod of any
// node, which the kernel still limits to the allowed ones on open), then the
// spec's linux.devices, which the spec says must be usable. runc builds
// the same list, so a deny-all default spec still gets a working /dev.
func deviceRules(spec *specs.Spec) []specs.LinuxDeviceCgroup {
	var rules []specs.LinuxDeviceCgroup
	if r := spec.Linux.Resources; r != nil {
		rules = append(rules, r.Devices...)
	}
	i64 := func(v int64) *int64 { return &v }
	wild := i64(-1)
	allow := func(typ string, major, minor *int64, access string) {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: major, Minor: minor, Access: access})
	}
	allow("c", wild, wild, "m")
	allow("b", wild, wild, "m")
	for _, d := range defaultDevices {
		allow(d.Type, i64(d.Major), i64(d.Minor), "rwm")
	}
	allow("c", i64(5), i64(1), "rwm") // /dev/console
	allow("c", i64(5), i64(2), "rwm") // /dev/ptmx
	allow("c", i64(136), wild, "rwm") // /dev/pts/*
	// A device the spec's own rules name is left to them: `docker run
	// --device /dev/sdb:/dev/xvdb:r` lists the node and allows "r" for it,
	// and an "rwm" added here would make it writable after all.
	ruled := map[[3]int64]bool{}
	if r := spec.Linux.Resources; r != nil {
		for _, rule := range r.Devices {
			if rule.Major != nil && rule.Minor != nil {
				t := rule.Type
				if t == "" || t == "a" {
					continue
				}
				ruled[[3]int64{int64(t[0]), *rule.Major, *rule.Minor}] = true
			}
		}
	}
	for _, d := range spec.Linux.Devices {
		t := d.Type
		if t == "u" {
			t = "c"
		}
		if t == "p" || ruled[[3]int64{int64(t[0]), d.Major, d.Minor}] {
			continue
		}
		allow(t, i64(d.Major), i64(d.Minor), "rwm")
	}
	return rules
}
