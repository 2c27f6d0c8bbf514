package runtime

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// sealedExe returns a sealed in-memory copy of the running binary, from
// which the container's init and exec'd processes are started.
//
// CVE-2019-5736: a process inside the container can open
// /proc/<pid>/exe of a runtime process that joined the container and write
// through it to the runtime's binary on the host, which the next root
// invocation then runs. A memfd copy with every write seal set is not the
// host file, and it cannot be changed by anyone: the write through
// /proc/<pid>/exe fails with EPERM.
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
	if err != nil {
		dst.Close()
		return nil, err
	}
	// Size the memfd once so the copy does not grow it page by page.
	if err := dst.Truncate(st.Size()); err != nil {
		dst.Close()
		return nil, fmt.Errorf("memfd truncate: %w", err)
	}
	// io.Copy between two files uses copy_file_range/sendfile: the bytes
	// never pass through user space.
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return nil, fmt.Errorf("copy /proc/self/exe to memfd: %w", err)
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(dst.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		dst.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return dst, nil
}
