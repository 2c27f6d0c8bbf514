package runtime

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// protectedExe returns a file descriptor of the running binary from which
// the container's init and exec'd processes are started, such that nothing
// inside the container can change the binary on the host.
//
// CVE-2019-5736: a container process that gets to run the runtime's binary
// (say /bin/sh replaced by "#!/proc/self/exe") can open /proc/self/exe and,
// once the runtime exits, write through it to the host's binary, which the
// next root invocation then runs.
//
// First choice: a detached, read-only bind mount of the binary, made with
// open_tree(OPEN_TREE_CLONE) and mount_setattr(MOUNT_ATTR_RDONLY). It is
// attached nowhere (no mount appears on the host, nothing propagates) and
// costs two syscalls; a process started from it has it as /proc/self/exe,
// and any open for writing fails with EROFS. Fallback (no privilege over
// the mount namespace, as for a rootless caller): a sealed memfd copy.
func protectedExe() (*os.File, error) {
	if f, err := readonlyBindExe(); err == nil {
		return f, nil
	}
	return sealedExe()
}

func readonlyBindExe() (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, err
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "hutch-ro-exe"), nil
}

// sealedExe is a sealed in-memory copy of the binary: not the host's file,
// and unchangeable by anyone (every write seal is set).
func sealedExe() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open /proc/self/exe: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("hutch-runtime", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	dst := os.NewFile(uintptr(fd), "memfd:hutch-runtime")
	st, err := src.Stat()
	if err == nil {
		// Size the memfd once so the copy does not grow it page by page.
		err = dst.Truncate(st.Size())
	}
	if err == nil {
		// io.Copy between two files uses sendfile: the bytes do not pass
		// through user space.
		_, err = io.Copy(dst, src)
	}
	if err == nil {
		const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
		_, err = unix.FcntlInt(dst.Fd(), unix.F_ADD_SEALS, seals)
	}
	if err != nil {
		dst.Close()
		return nil, fmt.Errorf("copy /proc/self/exe to a sealed memfd: %w", err)
	}
	return dst, nil
}
