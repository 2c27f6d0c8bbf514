package runtime

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths inside the container's root filesystem are resolved with
// openat2(RESOLVE_IN_ROOT): the kernel treats the rootfs as "/" for every
// symlink and ".." on the way, so a hostile image with /proc -> /host/proc
// or etc -> ../../.. cannot send a mount or a device node outside it. The
// mount target is then named by the opened fd (/proc/self/fd/N), which
// the kernel follows to exactly the inode resolved here, leaving no window
// for a swapped path component.

// openInRoot opens rel (relative to rootfd, "/" meaning the root) with
// flags, resolving within the root.
func openInRoot(rootfd int, rel string, flags int) (int, error) {
	rel = strings.TrimLeft(filepath.Clean("/"+rel), "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(rootfd, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// mkdirAllInRoot makes sure rel exists inside the root, creating missing
// directories (and, if file is true, an empty regular file as the last
// component), and returns an O_PATH fd on it.
func mkdirAllInRoot(rootfd int, rel string, file bool) (int, error) {
	if fd, err := openInRoot(rootfd, rel, unix.O_PATH); err == nil {
		return fd, nil
	} else if err != unix.ENOENT {
		return -1, err
	}
	parts := strings.Split(strings.Trim(filepath.Clean("/"+rel), "/"), "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := openInRoot(rootfd, prefix, unix.O_PATH)
		if err == nil {
			if i == len(parts)-1 {
				return fd, nil
			}
			unix.Close(fd)
			continue
		}
		if err != unix.ENOENT {
			return -1, err
		}
		parent, err := openInRoot(rootfd, strings.Join(parts[:i], "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return -1, err
		}
		last := i == len(parts)-1
		if last && file {
			var nfd int
			nfd, err = unix.Openat(parent, parts[i], unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
			if err == nil {
				unix.Close(nfd)
			}
		} else {
			err = unix.Mkdirat(parent, parts[i], 0o755)
		}
		unix.Close(parent)
		if err != nil && err != unix.EEXIST {
			return -1, err
		}
		if err == unix.EEXIST {
			// The name exists but did not resolve: a dangling symlink.
			return -1, fmt.Errorf("%s: dangling symlink", "/"+prefix)
		}
	}
	return openInRoot(rootfd, rel, unix.O_PATH)
}

// fdPath names an open fd for syscalls that take a path.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// resolvedPath reports where an O_PATH fd points, for error messages.
func resolvedPath(fd int) string {
	p, err := readlink(fdPath(fd))
	if err != nil {
		return "?"
	}
	return p
}

func readlink(path string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlink(path, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func isNotExist(err error) bool { return errors.Is(err, unix.ENOENT) }
