// Package netns creates, enters and removes named network namespaces: a
// new namespace kept alive by a bind mount of its nsfs file at a path (as
// `ip netns add` does under /run/netns), so that it outlives the process
// that made it and can be handed to the runtime by path.
//
// No function here ever leaves a Go thread that other goroutines may use in
// a namespace other than the host's: the switch happens on a goroutine of
// its own, locked to its OS thread, which is returned to the scheduler only
// after switching back, and thrown away (the goroutine ends while still
// locked, so the runtime retires the thread) when switching back failed.
//
// Switching back is needed even on a thread that is about to be thrown
// away: when that thread is the process's main thread the runtime cannot
// end it and parks it forever instead, and a parked main thread left in the
// new namespace would keep the namespace alive after Remove and make
// /proc/self/ns/net name it instead of the host's.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// New creates a network namespace with lo up and bind-mounts it at path.
// path must not exist; its parent directory is created and made a shared
// mount (see makeShared).
func New(path string) error {
	if err := makeShared(filepath.Dir(path)); err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	// The bind mount needs a file to mount over. O_EXCL: two callers must
	// not end up sharing one namespace.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o444)
	if errors.Is(err, os.ErrExist) {
		return errdefs.AlreadyExists("netns %s: already exists", path)
	}
	if err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer origin.Close()
		cerr := createOnThisThread(path)
		if err := unix.Setns(int(origin.Fd()), unix.CLONE_NEWNET); err != nil {
			// Left locked: the thread is thrown away with this goroutine.
			errc <- errors.Join(cerr, os.NewSyscallError("setns back to the host", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- cerr
	}()
	if err := <-errc; err != nil {
		unix.Unmount(path, unix.MNT_DETACH)
		os.Remove(path)
		return fmt.Errorf("netns %s: %w", path, err)
	}
	return nil
}

// createOnThisThread moves the calling (locked, disposable) thread into a
// new network namespace, brings lo up there and pins the namespace at path.
func createOnThisThread(path string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return os.NewSyscallError("unshare CLONE_NEWNET", err)
	}
	// A new namespace's lo is down: nothing, not even 127.0.0.1, works
	// until it is up. netlink's package functions open their socket on the
	// calling thread, hence in the new namespace.
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo: set up: %w", err)
	}
	// thread-self, not self: only this thread is in the new namespace.
	if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind mount netns", Path: path, Err: err}
	}
	return nil
}

// makeShared makes dir a mount point with shared propagation, bind-mounting
// it onto itself first when it is not a mount point yet. This is what
// iproute2 does for /run/netns: mount namespaces created later (every
// container's) get copies of the netns bind mounts made here, and with a
// shared (or, in the copies, slave) parent an unmount done here propagates
// to those copies too. Without it a copy would keep the namespace alive
// after Remove, and with it its veth and addresses.
//
// The check and the bind happen under a flock on dir itself (the bind shows
// the same inode, so the lock is the same before and after), else two
// parallel callers could both see "not a mount point" and stack two binds.
func makeShared(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := flock(d); err != nil {
		return &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	for bound := false; ; bound = true {
		err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		// EINVAL: dir is not a mount point.
		if err != unix.EINVAL || bound {
			return &os.PathError{Op: "make shared mount", Path: dir, Err: err}
		}
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return &os.PathError{Op: "bind mount", Path: dir, Err: err}
		}
	}
}

func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}

// Remove unmounts the namespace at path and deletes the file. The
// namespace itself goes away with its last user. Removing a path that is
// not mounted or does not exist is not an error.
func Remove(path string) error {
	// MNT_DETACH: a process in another mount namespace may still hold it;
	// the unmount must not fail for that.
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return &os.PathError{Op: "unmount netns", Path: path, Err: err}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	return nil
}

// Do runs fn on an OS thread that is inside the namespace at path, and
// returns fn's error. fn runs on a goroutine of its own: goroutines it
// starts are not in the namespace, but sockets it opens stay there after it
// returns, so a listener made by fn can be served from anywhere.
func Do(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer origin.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- &os.PathError{Op: "setns", Path: path, Err: err}
			return
		}
		ferr := fn()
		if err := unix.Setns(int(origin.Fd()), unix.CLONE_NEWNET); err != nil {
			// Left locked: the thread is thrown away with this goroutine.
			errc <- errors.Join(ferr, os.NewSyscallError("setns back to the host", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// IsNetns reports whether path is a mounted network namespace (an nsfs
// file), so callers can tell a live namespace from a leftover file.
func IsNetns(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}
