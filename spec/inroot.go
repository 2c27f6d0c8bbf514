package spec

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The image is untrusted: /etc/passwd may be a symlink to ../../../etc/shadow
// of the host, WORKDIR may go through a symlink to /. Every path inside the
// rootfs is therefore resolved with openat2(RESOLVE_IN_ROOT): the kernel
// treats the rootfs as "/" for every symlink and ".." on the way, exactly as
// the container's own processes will see it.

// maxUserFile bounds what is read of /etc/passwd or /etc/group, so that an
// image cannot make `hutch run` read gigabytes.
const maxUserFile = 16 << 20

// maxSymlinks is the kernel's limit on symlinks in one lookup (MAXSYMLINKS).
const maxSymlinks = 40

func openRoot(rootfs string) (int, error) {
	fd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	return fd, nil
}

// openInRoot opens rel (an absolute or relative path inside the root) with
// flags, every symlink and ".." resolved within the root.
func openInRoot(rootfd int, rel string, flags int) (int, error) {
	rel = strings.TrimLeft(rel, "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(rootfd, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// readFileInRoot returns the contents of the regular file at rel inside
// rootfs, and os.ErrNotExist (wrapped) when there is none. A FIFO or
// device node there is refused before it is opened for reading: opening a
// device runs its driver (a watchdog starts counting), a FIFO blocks.
func readFileInRoot(rootfd int, rel string) ([]byte, error) {
	pfd, err := openInRoot(rootfd, rel, unix.O_PATH)
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: rel, Err: err}
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: rel, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "open", Path: rel, Err: errors.New("not a regular file")}
	}
	// Reopen the very inode resolved above for reading; the O_PATH fd's
	// magic link cannot be swapped for another file.
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "reopen", Path: rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUserFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxUserFile {
		return nil, &os.PathError{Op: "read", Path: rel, Err: errors.New("file too large")}
	}
	return b, nil
}

// errNotDir is returned by mkdirAllInRoot when a component exists and is
// not a directory.
var errNotDir = errors.New("not a directory")

// mkdirAllInRoot makes sure the directory p (absolute, inside the root)
// exists, creating what is missing with mode 0755, as Docker does for
// WORKDIR. Symlinks on the way are followed inside the root, dangling ones
// included: their target is created, as the container would see it.
func mkdirAllInRoot(rootfd int, p string) error {
	if fd, err := openInRoot(rootfd, p, unix.O_PATH|unix.O_DIRECTORY); err == nil {
		unix.Close(fd)
		return nil
	} else if err == unix.ENOTDIR {
		return errNotDir
	} else if err != unix.ENOENT {
		return err
	}

	// done holds the components known to resolve (they may contain
	// symlinks and "..": the kernel resolves them again at each step, so
	// no lexical cleaning can get them wrong); todo what is left.
	var done []string
	todo := splitPath(p)
	links := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		cur := strings.Join(append(done, name), "/")
		fd, err := openInRoot(rootfd, cur, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			unix.Close(fd)
			done = append(done, name)
			continue
		}
		if err == unix.ENOTDIR {
			return errNotDir
		}
		if err != unix.ENOENT {
			return err
		}
		// Missing, or a dangling symlink.
		lfd, err := openInRoot(rootfd, cur, unix.O_PATH|unix.O_NOFOLLOW)
		if err == nil {
			target, rerr := readlinkFd(lfd)
			unix.Close(lfd)
			if rerr != nil {
				return rerr
			}
			if links++; links > maxSymlinks {
				return unix.ELOOP
			}
			// Go on from the link's target: absolute ones start again at
			// the root, relative ones from the link's directory.
			if strings.HasPrefix(target, "/") {
				done = nil
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		if err != unix.ENOENT {
			return err
		}
		parent, err := openInRoot(rootfd, strings.Join(done, "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		err = unix.Mkdirat(parent, name, 0o755)
		unix.Close(parent)
		if err != nil && err != unix.EEXIST {
			return err
		}
		// Opened again at the next turn (EEXIST: someone else made it,
		// perhaps a symlink, which that turn resolves).
		todo = append([]string{name}, todo...)
	}
	return nil
}

// splitPath splits p into its non-empty components, keeping ".." (which
// only the kernel can resolve correctly once symlinks are involved).
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// readlinkFd reads the target of the symlink opened as fd (O_PATH|O_NOFOLLOW).
func readlinkFd(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// cleanAbs is filepath.Clean for a path that must be absolute.
func cleanAbs(p string) string { return filepath.Clean("/" + p) }
