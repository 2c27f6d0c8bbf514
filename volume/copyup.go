package volume

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/store"
)

// CopyUp fills an empty volume with what the image has at the mount point,
// as Docker does when a container mounts a volume on a directory of its
// image (unless nocopy): dir is the path in the image, rootfs the image's
// root filesystem (the container's rootfs before the volume is mounted).
//
// The copy keeps ownership, modes (setuid and sticky bits included),
// extended attributes (file capabilities too), times, symlinks as symlinks,
// hard links, device nodes and fifos; and the volume's root takes the
// owner, mode and times of dir, as Docker's copyOwnership.
//
// dir is resolved inside rootfs with openat2(RESOLVE_IN_ROOT): an image
// whose /data is a symlink to /etc gets its own /etc, never the host's; and
// below that the tree is walked by descriptors without following any
// symlink, so nothing outside the image is ever read.
//
// A volume that is not empty, or a dir that the image does not have (or
// that is not a directory), is left alone: copied is false. Call it after
// Acquire (so the volume cannot be removed meanwhile) and after Mount (so
// a tmpfs volume is filled, not the directory under it). Concurrent
// CopyUps of one volume copy once.
func (s *Store) CopyUp(name, rootfs, dir string) (copied bool, err error) {
	v, err := s.read(name)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("volume %s: copy %s from the image: %w", name, dir, err)
		}
	}()
	l, err := store.LockFile(filepath.Join(s.dirOf(name), ".copyup.lock"))
	if err != nil {
		return false, err
	}
	defer l.Unlock()

	dst, err := os.OpenFile(v.Mountpoint, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer dst.Close()
	if names, err := dst.Readdirnames(1); len(names) > 0 {
		return false, nil
	} else if err != nil && err != io.EOF {
		return false, err
	}

	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(root)
	src, err := openInRoot(root, dir)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "openat2", Path: filepath.Join(rootfs, dir), Err: err}
	}
	defer unix.Close(src)

	c := &copier{dstRoot: int(dst.Fd()), links: map[fileID]string{}}
	if err := c.dir(src, int(dst.Fd()), ""); err != nil {
		return false, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return false, err
	}
	if err := c.meta(src, int(dst.Fd()), &st); err != nil {
		return false, err
	}
	if err := unix.UtimesNanoAt(int(dst.Fd()), ".", times(&st), 0); err != nil {
		return false, err
	}
	return true, nil
}

// openInRoot opens dir (absolute or not, in the image) as a directory,
// with the kernel treating root as "/" for every symlink and ".." on the
// way (RESOLVE_IN_ROOT) and refusing /proc magic links.
func openInRoot(root int, dir string) (int, error) {
	rel := strings.TrimLeft(filepath.Clean("/"+dir), "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range 16 {
		fd, err := unix.Openat2(root, rel, &how)
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
	}
	return -1, unix.EAGAIN
}

type fileID struct{ dev, ino uint64 }

type copier struct {
	dstRoot int
	links   map[fileID]string // hard-linked files copied so far, by path in the volume
}

// dir copies the entries of the open directory src into dst; rel is the
// directory's path in the volume.
func (c *copier) dir(src, dst int, rel string) error {
	// Readdirnames on a dup, so closing the *os.File leaves src open.
	dup, err := unix.Dup(src)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), rel)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := c.entry(src, dst, name, filepath.Join(rel, name)); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) entry(srcDir, dstDir int, name, rel string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(srcDir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "stat", Path: rel, Err: err}
	}
	id := fileID{uint64(st.Dev), st.Ino}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dstDir, name, 0o700); err != nil {
			return &os.PathError{Op: "mkdir", Path: rel, Err: err}
		}
		sfd, err := unix.Openat(srcDir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: rel, Err: err}
		}
		defer unix.Close(sfd)
		dfd, err := unix.Openat(dstDir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: rel, Err: err}
		}
		defer unix.Close(dfd)
		if err := c.dir(sfd, dfd, rel); err != nil {
			return err
		}
		if err := c.meta(sfd, dfd, &st); err != nil {
			return &os.PathError{Op: "copy metadata", Path: rel, Err: err}
		}

	case unix.S_IFREG:
		if st.Nlink > 1 {
			if first, ok := c.links[id]; ok {
				if err := unix.Linkat(c.dstRoot, first, dstDir, name, 0); err != nil {
					return &os.PathError{Op: "link", Path: rel, Err: err}
				}
				return nil
			}
			c.links[id] = rel
		}
		if err := c.file(srcDir, dstDir, name, rel, &st); err != nil {
			return err
		}

	case unix.S_IFLNK:
		target, err := readlinkat(srcDir, name)
		if err != nil {
			return &os.PathError{Op: "readlink", Path: rel, Err: err}
		}
		if err := unix.Symlinkat(target, dstDir, name); err != nil {
			return &os.PathError{Op: "symlink", Path: rel, Err: err}
		}
		if err := unix.Fchownat(dstDir, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lchown", Path: rel, Err: err}
		}

	default: // devices, fifos, sockets
		if err := unix.Mknodat(dstDir, name, st.Mode, int(st.Rdev)); err != nil {
			return &os.PathError{Op: "mknod", Path: rel, Err: err}
		}
		if err := unix.Fchownat(dstDir, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "chown", Path: rel, Err: err}
		}
		if err := unix.Fchmodat(dstDir, name, st.Mode&0o7777, 0); err != nil {
			return &os.PathError{Op: "chmod", Path: rel, Err: err}
		}
	}
	// Times last: making a directory's entries changes its mtime.
	if err := unix.UtimesNanoAt(dstDir, name, times(&st), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: rel, Err: err}
	}
	return nil
}

func (c *copier) file(srcDir, dstDir int, name, rel string, st *unix.Stat_t) error {
	sfd, err := unix.Openat(srcDir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	sf := os.NewFile(uintptr(sfd), rel)
	defer sf.Close()
	dfd, err := unix.Openat(dstDir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: rel, Err: err}
	}
	df := os.NewFile(uintptr(dfd), rel)
	defer df.Close()
	// io.Copy between two *os.File uses copy_file_range, so a copy on
	// the same filesystem can share extents (reflink) or stay in kernel.
	if _, err := io.Copy(df, sf); err != nil {
		return &os.PathError{Op: "copy", Path: rel, Err: err}
	}
	if err := c.meta(sfd, dfd, st); err != nil {
		return &os.PathError{Op: "copy metadata", Path: rel, Err: err}
	}
	return nil
}

// meta gives dst the owner, mode and extended attributes of src, in that
// order: chown clears setuid/setgid bits and security.capability, so both
// are set after it.
func (c *copier) meta(src, dst int, st *unix.Stat_t) error {
	if err := unix.Fchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := unix.Fchmod(dst, st.Mode&0o7777); err != nil {
		return err
	}
	return copyXattrs(src, dst)
}

func copyXattrs(src, dst int) error {
	size, err := unix.Flistxattr(src, nil)
	if err == unix.ENOTSUP || size <= 0 {
		return nil
	}
	if err != nil {
		return err
	}
	list := make([]byte, size)
	if size, err = unix.Flistxattr(src, list); err != nil {
		return err
	}
	for _, name := range strings.Split(strings.TrimRight(string(list[:size]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		val, err := fgetxattr(src, name)
		if err != nil {
			return fmt.Errorf("getxattr %s: %w", name, err)
		}
		if err := unix.Fsetxattr(dst, name, val, 0); err != nil {
			// An SELinux label the volume's filesystem cannot hold is
			// relabelled at mount time anyway (z, Z).
			if name == "security.selinux" || err == unix.ENOTSUP {
				continue
			}
			return fmt.Errorf("setxattr %s: %w", name, err)
		}
	}
	return nil
}

func fgetxattr(fd int, name string) ([]byte, error) {
	for {
		size, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size)
		n, err := unix.Fgetxattr(fd, name, buf)
		if err == unix.ERANGE {
			continue // grew between the two calls
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

func readlinkat(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

func times(st *unix.Stat_t) []unix.Timespec {
	return []unix.Timespec{st.Atim, st.Mtim}
}

// diskUsage is the apparent size of the regular files under dir, each
// hard-linked file once, without following symlinks.
func diskUsage(dir string) (int64, error) {
	var total int64
	seen := map[fileID]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			return nil // vanished or unreadable: not counted
		}
		if !d.Type().IsRegular() {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil {
			return nil
		}
		if st.Nlink > 1 {
			id := fileID{uint64(st.Dev), st.Ino}
			if seen[id] {
				return nil
			}
			seen[id] = true
		}
		total += st.Size
		return nil
	})
	return total, err
}
