package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/internal/mountinfo"
	"hutch.dev/hutch/runtime/specconv"
)

// prepareRoot makes the mount tree private to the container and turns the
// rootfs into a mount point, which pivot_root requires.
func prepareRoot(spec *specs.Spec, rootfs string) error {
	// Default rslave: host mounts still reach the container, nothing of
	// the container's propagates back to the host.
	flag := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p := spec.Linux.RootfsPropagation; p != "" {
		flag = specconv.PropagationFlags[p]
	}
	if flag&unix.MS_UNBINDABLE != 0 {
		// An unbindable tree cannot give the rootfs bind mount below;
		// finishRootfs makes the new root unbindable after pivot_root.
		flag = unix.MS_PRIVATE | unix.MS_REC
	}
	if err := unix.Mount("", "/", "", flag, ""); err != nil {
		return &os.PathError{Op: "mount propagation of /", Path: "/", Err: err}
	}
	if flag&unix.MS_SHARED != 0 {
		// pivot_root refuses a new root whose parent mount is shared.
		if err := makeParentMountPrivate(rootfs); err != nil {
			return err
		}
	}
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "bind mount root", Path: rootfs, Err: err}
	}
	return nil
}

func makeParentMountPrivate(rootfs string) error {
	mounts, err := mountinfo.Read()
	if err != nil {
		return err
	}
	parent := filepath.Dir(rootfs)
	best := ""
	for _, m := range mounts {
		if (parent == m.Mountpoint || strings.HasPrefix(parent, strings.TrimSuffix(m.Mountpoint, "/")+"/")) && len(m.Mountpoint) > len(best) {
			best = m.Mountpoint
		}
	}
	if best == "" {
		return nil
	}
	if err := unix.Mount("", best, "", unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make parent mount private", Path: best, Err: err}
	}
	return nil
}

// mountAll performs the spec's mounts inside the rootfs, in order.
func mountAll(cfg *initConfig, rootfd int) error {
	spec := cfg.Spec
	bundle := ""
	if cfg.State != nil {
		bundle = cfg.State.Bundle
	}
	cgroupns, _ := specconv.HasNamespace(spec, specs.CgroupNamespace)
	for i, m := range spec.Mounts {
		if err := mountOne(rootfd, m, bundle, cgroupns); err != nil {
			return fmt.Errorf("mounts[%d] %s on %s: %w", i, m.Type, m.Destination, err)
		}
	}
	return nil
}

func mountOne(rootfd int, m specs.Mount, bundle string, cgroupns bool) error {
	mo := specconv.ParseMountOptions(m.Options)
	if m.Type == "bind" {
		mo.Bind = true
		mo.Flags |= unix.MS_BIND
	}
	if mo.Bind {
		return bindMount(rootfd, m, mo, bundle)
	}
	target, err := mkdirAllInRoot(rootfd, m.Destination, false)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	switch m.Type {
	case "cgroup", "cgroup2":
		return mountCgroup(rootfd, target, m, mo, cgroupns)
	}
	// For tmpcopyup, keep a handle on the directory the tmpfs will hide:
	// lookups through it still see what lies underneath.
	under := -1
	if mo.CopyUp {
		if under, err = openInRoot(rootfd, m.Destination, unix.O_RDONLY|unix.O_DIRECTORY); err != nil {
			return err
		}
		defer unix.Close(under)
	}
	tpath := fdPath(target)
	err = unix.Mount(m.Source, tpath, m.Type, mo.Flags, mo.Data)
	if err == unix.EPERM && m.Type == "sysfs" {
		// sysfs cannot be mounted in a user namespace that does not own
		// the network namespace: bind the host's /sys instead, as runc.
		err = unix.Mount("/sys", tpath, "", unix.MS_BIND|unix.MS_REC, "")
		if err == nil {
			err = remountAt(rootfd, m.Destination, mo.Flags|unix.MS_BIND)
		}
	}
	if err != nil {
		return err
	}
	// The fd opened before the mount names the directory under it: look
	// the destination up again to act on the new mount.
	mounted, err := openInRoot(rootfd, m.Destination, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(mounted)
	if under >= 0 {
		if err := copyTree(under, mounted); err != nil {
			return fmt.Errorf("tmpcopyup: %w", err)
		}
	}
	return applyPropagation(fdPath(mounted), mo)
}

func bindMount(rootfd int, m specs.Mount, mo specconv.MountOptions, bundle string) error {
	src := m.Source
	if !filepath.IsAbs(src) && bundle != "" {
		src = filepath.Join(bundle, src)
	}
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	target, err := mkdirAllInRoot(rootfd, m.Destination, !st.IsDir())
	if err != nil {
		return err
	}
	defer unix.Close(target)
	tpath := fdPath(target)
	flags := uintptr(unix.MS_BIND)
	if mo.Recursive {
		flags |= unix.MS_REC
	}
	if err := unix.Mount(src, tpath, "", flags, ""); err != nil {
		return err
	}
	// Reopen: the fd still names the directory under the new mount.
	nt, err := openInRoot(rootfd, m.Destination, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(nt)
	tpath = fdPath(nt)
	if mo.Flags&^(unix.MS_BIND|unix.MS_REC|unix.MS_REMOUNT) != 0 {
		if err := remount(tpath, mo.Flags|unix.MS_BIND); err != nil {
			return err
		}
	}
	return applyPropagation(tpath, mo)
}

// remount changes the flags of a mount. In a user namespace the kernel
// locks nosuid/nodev/noexec/ro/atime flags it inherited; retry keeping
// them.
func remount(path string, flags uintptr) error {
	flags |= unix.MS_REMOUNT
	err := unix.Mount("", path, "", flags, "")
	if err == unix.EPERM {
		var st unix.Statfs_t
		if serr := unix.Statfs(path, &st); serr == nil {
			locked := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
			err = unix.Mount("", path, "", flags|locked, "")
		}
	}
	if err != nil {
		return &os.PathError{Op: "remount", Path: path, Err: err}
	}
	return nil
}

func applyPropagation(path string, mo specconv.MountOptions) error {
	for _, p := range mo.Propagation {
		if err := unix.Mount("", path, "", p, ""); err != nil {
			return &os.PathError{Op: "set propagation", Path: path, Err: err}
		}
	}
	if mo.AttrSet != 0 || mo.AttrClr != 0 {
		attr := &unix.MountAttr{Attr_set: mo.AttrSet, Attr_clr: mo.AttrClr}
		if err := unix.MountSetattr(-1, path, unix.AT_RECURSIVE, attr); err != nil {
			return &os.PathError{Op: "mount_setattr", Path: path, Err: err}
		}
	}
	return nil
}

// mountCgroup mounts the cgroup filesystem as the container should see
// it. On cgroup v2 that is one cgroup2 mount. On v1 (and the hybrid layout)
// it is a tmpfs holding one directory per hierarchy the host has. Each
// shows the container's own cgroup: a fresh cgroup mount when the container
// has its own cgroup namespace (the kernel roots it there), a bind mount of
// the container's cgroup otherwise. A fresh mount without a cgroup
// namespace would show the host's root cgroup, and a writable one would let
// the container move itself out of its limits.
func mountCgroup(rootfd, target int, m specs.Mount, mo specconv.MountOptions, cgroupns bool) error {
	tpath := fdPath(target)
	mounts, err := mountinfo.Read()
	if err != nil {
		return err
	}
	var v1 []mountinfo.Mount
	var v2 *mountinfo.Mount
	for i, mi := range mounts {
		if !strings.HasPrefix(mi.Mountpoint, "/sys/fs/cgroup") {
			continue
		}
		switch mi.FSType {
		case "cgroup":
			v1 = append(v1, mi)
		case "cgroup2":
			v2 = &mounts[i]
		}
	}
	flags := mo.Flags &^ unix.MS_RDONLY
	ro := mo.Flags & unix.MS_RDONLY
	if len(v1) == 0 {
		if err := mountCgroup2(tpath, flags, v2, cgroupns); err != nil {
			return err
		}
		return remountAt(rootfd, m.Destination, flags|ro)
	}
	if err := unix.Mount("tmpfs", tpath, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return &os.PathError{Op: "mount tmpfs for cgroups", Path: tpath, Err: err}
	}
	// Walk again from the root: the old fd names the directory under the
	// new tmpfs, not the tmpfs.
	dir, err := openInRoot(rootfd, m.Destination, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	own := ownCgroups()
	for _, mi := range v1 {
		name := filepath.Base(mi.Mountpoint)
		sub, err := mkdirAllInRoot(dir, name, false)
		if err != nil {
			return err
		}
		spath := fdPath(sub)
		opts := cgroupSuperOpts(mi.SuperOptions)
		err = unix.EPERM
		if cgroupns {
			err = unix.Mount("cgroup", spath, "cgroup", flags, opts)
		}
		if err != nil {
			// No cgroup namespace of its own (or no right to mount one):
			// bind the container's cgroup from the host hierarchy.
			src := filepath.Join(mi.Mountpoint, own[opts])
			err = unix.Mount(src, spath, "", unix.MS_BIND|unix.MS_REC, "")
			if err != nil {
				unix.Close(sub)
				return &os.PathError{Op: "mount cgroup " + opts, Path: spath, Err: err}
			}
		}
		unix.Close(sub)
		if err := remountAt(dir, name, flags|ro); err != nil {
			return err
		}
		// Co-mounted controllers (cpu,cpuacct) also get a link per name.
		if strings.Contains(name, ",") {
			for _, part := range strings.Split(name, ",") {
				unix.Symlinkat(name, dir, part)
			}
		}
	}
	if v2 != nil {
		name := filepath.Base(v2.Mountpoint)
		sub, err := mkdirAllInRoot(dir, name, false)
		if err != nil {
			return err
		}
		err = mountCgroup2(fdPath(sub), flags, v2, cgroupns)
		unix.Close(sub)
		if err != nil {
			return err
		}
		if err := remountAt(dir, name, flags|ro); err != nil {
			return err
		}
	}
	if ro != 0 {
		return remountAt(rootfd, m.Destination, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY)
	}
	return nil
}

// remountAt applies flags to the mount now at rel under dirfd, which is
// looked up afresh so that the walk lands on the new mount. Only a
// read-only request needs the remount; the mount itself had the others.
func remountAt(dirfd int, rel string, flags uintptr) error {
	if flags&unix.MS_RDONLY == 0 {
		return nil
	}
	fd, err := openInRoot(dirfd, rel, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return remount(fdPath(fd), flags|unix.MS_BIND)
}

func mountCgroup2(path string, flags uintptr, host *mountinfo.Mount, cgroupns bool) error {
	err := error(unix.EPERM)
	if cgroupns || host == nil {
		err = unix.Mount("cgroup2", path, "cgroup2", flags, "")
	}
	if err != nil && host != nil {
		src := filepath.Join(host.Mountpoint, ownCgroups()[""])
		err = unix.Mount(src, path, "", unix.MS_BIND|unix.MS_REC, "")
	}
	if err != nil {
		return &os.PathError{Op: "mount cgroup2", Path: path, Err: err}
	}
	return nil
}

// cgroupSuperOpts keeps the controller names (and name=) from a v1
// hierarchy's super options, dropping rw/ro and the like.
func cgroupSuperOpts(s string) string {
	var keep []string
	for _, o := range strings.Split(s, ",") {
		switch o {
		case "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime", "clone_children", "xattr", "nsdelegate":
			continue
		}
		if strings.HasPrefix(o, "release_agent=") {
			continue
		}
		keep = append(keep, o)
	}
	return strings.Join(keep, ",")
}

// ownCgroups maps each hierarchy's controller list ("memory",
// "name=systemd", "" for v2) to the calling process's cgroup in it.
func ownCgroups() map[string]string {
	m := map[string]string{}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			m[parts[1]] = parts[2]
		}
	}
	return m
}

// pivotRoot makes rootfs the root of the mount namespace and detaches the
// old root. pivot_root(".", ".") stacks the old root on top of the new one
// at "/", so no directory for the old root is needed inside the image.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: rootfs, Err: err}
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// Make the old root a slave first so that detaching it does not
	// propagate an unmount to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "make old root rslave", Path: "/", Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "unmount old root", Path: "/", Err: err}
	}
	return unix.Chdir("/")
}

// moveRoot is --no-pivot: for a root on ramfs/initramfs, where pivot_root
// cannot work, move the rootfs over / and chroot into it.
func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return &os.PathError{Op: "move root", Path: rootfs, Err: err}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: rootfs, Err: err}
	}
	return unix.Chdir("/")
}

// finishRootfs applies what must come after pivot_root: read-only and
// masked paths, the root's propagation and read-only root.
func finishRootfs(spec *specs.Spec) error {
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths %s: %w", p, err)
		}
	}
	for _, p := range spec.Linux.MaskedPaths {
		if err := maskPath(p); err != nil {
			return fmt.Errorf("linux.maskedPaths %s: %w", p, err)
		}
	}
	if p := spec.Linux.RootfsPropagation; p != "" {
		if err := unix.Mount("", "/", "", specconv.PropagationFlags[p], ""); err != nil {
			return &os.PathError{Op: "linux.rootfsPropagation", Path: "/", Err: err}
		}
	}
	if spec.Root.Readonly {
		if err := remount("/", unix.MS_BIND|unix.MS_RDONLY); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	return nil
}

func readonlyPath(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	return remount(p, unix.MS_BIND|unix.MS_REC|unix.MS_RDONLY)
}

func maskPath(p string) error {
	err := unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
	if err == unix.ENOTDIR {
		// A directory: hide it under an empty read-only tmpfs.
		err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0k")
	}
	if err == unix.ENOENT {
		return nil
	}
	return err
}
