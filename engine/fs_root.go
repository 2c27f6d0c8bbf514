package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/mount"
	"hutch.dev/hutch/snapshot/overlay"
)

// The filesystem verbs (cp, export, diff, commit) work on a container's
// root filesystem from outside the container. Every path they are given
// is resolved by the kernel inside that root: openat2(2) with
// RESOLVE_IN_ROOT on a descriptor of the root, so "..", absolute symlinks
// and chains of them stop at the container's "/" exactly as they would
// inside it (CVE-2018-15664, CVE-2019-14271: `docker cp` that followed a
// container's symlink to the host's /etc).

// fsRoot is a directory descriptor that paths are resolved under, and
// what errors call it (`container "web"`, or "" for the host).
type fsRoot struct {
	fd   int
	what string
}

// dir names the root as a path the calls that take paths can use: the
// magic link of its descriptor, which stays valid when the mount it
// points at is detached.
func (r *fsRoot) dir() string { return "/proc/self/fd/" + strconv.Itoa(r.fd) }

// relPath turns a path as the user wrote it into one relative to the root:
// "." for the root itself.
func relPath(p string) string {
	p = strings.TrimLeft(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// open opens rel (relative to the root) with flags, resolving every
// component inside the root; the last one is not followed when it is a
// symlink unless follow.
func (r *fsRoot) open(rel string, flags int, follow bool) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	if !follow {
		how.Flags |= unix.O_NOFOLLOW
	}
	for range 16 {
		// EAGAIN: a rename raced with the walk; the kernel asks to retry.
		fd, err := unix.Openat2(r.fd, rel, &how)
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
	}
	return -1, unix.EAGAIN
}

// pathErr names the root and the path in err, as `docker cp` users read
// it: `container "web": /nope: no such file or directory`, classified.
func (r *fsRoot) pathErr(p string, err error) error {
	prefix := ""
	if r.what != "" {
		prefix = r.what + ": "
	}
	if classified(err) {
		return fmt.Errorf("%s%w", prefix, err)
	}
	msg := prefix + p + ": " + err.Error()
	switch {
	case errors.Is(err, unix.ENOENT):
		return errdefs.NotFound("%s", msg)
	case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EEXIST), errors.Is(err, unix.ELOOP):
		return errdefs.InvalidArgument("%s", msg)
	case errors.Is(err, unix.EROFS), errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return errdefs.FailedPrecondition("%s", msg)
	}
	return fmt.Errorf("%s%s: %w", prefix, p, err)
}

// classified tells whether err already carries an errdefs class.
func classified(err error) bool {
	return errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) || errdefs.IsConflict(err) ||
		errdefs.IsFailedPrecondition(err) || errdefs.IsAlreadyExists(err) || errdefs.IsNotImplemented(err)
}

func (r *fsRoot) close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// hostRoot is the host's "/", for the host side of cp.
func hostRoot() (*fsRoot, error) {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &fsRoot{fd: fd}, nil
}

// withRootfs runs fn with the merged root filesystem of the container
// ref, under the container's lock (so it is neither started, removed nor
// committed meanwhile):
//
//   - a running (or paused) container's root is the mount under its
//     bundle. What is mounted over it inside the container's own mount
//     namespace (volumes, binds, tmpfs) is not seen: like the layer, not
//     like the container's view.
//   - a stopped container's snapshot is mounted on a temporary directory
//     and detached at once (MNT_DETACH) while a descriptor of it is
//     kept: the mount then lives only as long as that descriptor, so
//     nothing is left mounted even if this process is killed.
func (e *Engine) withRootfs(ctx context.Context, ref string, fn func(r *record, root *fsRoot) error) error {
	r, unlock, err := e.lockedRecord(ref)
	if err != nil {
		return err
	}
	defer unlock()
	alive := e.monitorAlive(&r.Container)
	var fd int
	switch {
	case r.State.Status == StatusRemoving || r.State.Status == StatusDead:
		return errdefs.Conflict("container %q is %s", r.Name, r.State.Status)
	case r.State.Running && alive:
		rootfs := filepath.Join(e.bundleDir(r.ID), "rootfs")
		if !mounted(rootfs) {
			return errdefs.Conflict("container %q is %s and its root filesystem is not mounted: try again", r.Name, r.State.Status)
		}
		if fd, err = unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return wrap(&r.Container, "open its root filesystem", err)
		}
	case alive:
		return errdefs.Conflict("container %q is being started by another command", r.Name)
	default:
		if fd, err = e.mountDetached(r); err != nil {
			return err
		}
	}
	root := &fsRoot{fd: fd, what: fmt.Sprintf("container %q", r.Name)}
	defer root.close()
	return fn(r, root)
}

// mountDetached mounts the container's snapshot and returns a descriptor
// of its root, the mount already detached from every path.
func (e *Engine) mountDetached(r *record) (int, error) {
	ms, err := e.sn.Mounts(context.Background(), r.Snapshot)
	if err != nil {
		return -1, wrap(&r.Container, "its writable layer", err)
	}
	base := filepath.Join(e.Runroot, "fs")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return -1, err
	}
	dir, err := os.MkdirTemp(base, r.ID[:12]+"-")
	if err != nil {
		return -1, err
	}
	defer os.Remove(dir)
	for _, m := range ms {
		if err := overlay.MountAt(m, dir); err != nil {
			mount.Unmount(dir)
			return -1, wrap(&r.Container, "mount its root filesystem", err)
		}
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if uerr := mount.Unmount(dir); uerr != nil {
		if err == nil {
			unix.Close(fd)
		}
		return -1, wrap(&r.Container, "detach its root filesystem", uerr)
	}
	if err != nil {
		return -1, wrap(&r.Container, "open its root filesystem", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	return fd, nil
}
