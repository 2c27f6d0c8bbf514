package archive

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// errEscape is the message of every name that climbs out of the root.
const errEscape = "path escapes the layer root"

// cleanName turns a tar entry name into a path relative to the root: "." for
// the root itself, never starting with "/" or "..". Absolute names are taken
// relative to the root; names that climb above it are refused.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errdefs.InvalidArgument("empty name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", errdefs.InvalidArgument("name holds a NUL byte")
	}
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", errdefs.InvalidArgument(errEscape)
	}
	p = strings.TrimLeft(p, "/")
	if p == "" {
		p = "."
	}
	return p, nil
}

// root is a directory descriptor that every path of a layer is resolved
// under, with a small cache of parent directories (a tar lists the files of a
// directory together, so most entries reuse the previous parent).
type root struct {
	fd   int
	dirs map[string]int
}

func openRoot(dir string) (*root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &root{fd: fd, dirs: map[string]int{}}, nil
}

func (r *root) close() {
	r.flush()
	unix.Close(r.fd)
}

// flush forgets the cached parents. Called whenever an entry is removed or
// replaced, because a cached descriptor may then point at a directory that is
// no longer at that path (a directory replaced by a symlink, say).
func (r *root) flush() {
	for _, fd := range r.dirs {
		unix.Close(fd)
	}
	clear(r.dirs)
}

// trim bounds the cache; called between entries only, since descriptors
// returned by resolve stay valid until the next trim or flush.
func (r *root) trim() {
	if len(r.dirs) >= 256 {
		r.flush()
	}
}

// resolve opens rel (relative, cleaned) as an O_PATH descriptor of a
// directory. The kernel walks it inside the root: "..", absolute symlinks and
// chains of symlinks never get past r.fd (RESOLVE_IN_ROOT), and /proc-style
// magic links are refused (RESOLVE_NO_MAGICLINKS). The returned descriptor is
// owned by the cache.
func (r *root) resolve(rel string) (int, error) {
	if rel == "." {
		return r.fd, nil
	}
	if fd, ok := r.dirs[rel]; ok {
		return fd, nil
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	var fd int
	var err error
	for range 16 {
		// EAGAIN: a rename elsewhere in the tree raced with the walk; the
		// kernel asks to retry rather than risk a wrong answer.
		fd, err = unix.Openat2(r.fd, rel, &how)
		if err != unix.EAGAIN && err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return -1, err
	}
	r.dirs[rel] = fd
	return fd, nil
}

// mkdirAll resolves rel like resolve, creating the directories that are
// missing with mk, which makes base in the directory pfd (rel names it in
// the root) and sets its metadata. mk must return mkdirat(2)'s error as it
// is (EEXIST in particular).
func (r *root) mkdirAll(rel string, mk func(pfd int, base, rel string) error) (int, error) {
	fd, err := r.resolve(rel)
	if err != unix.ENOENT {
		return fd, err
	}
	dir, base := path.Split(rel)
	pfd, err := r.mkdirAll(cleanDir(dir), mk)
	if err != nil {
		return -1, err
	}
	switch err := mk(pfd, base, rel); err {
	case nil:
	case unix.EEXIST:
		// resolve saw ENOENT yet base exists: a symlink whose target is
		// missing. Refused, as tar does; creating its target instead would
		// mean resolving the link by hand.
		fd, err := r.resolve(rel)
		if err == unix.ENOENT {
			return -1, errdefs.InvalidArgument("%q is a symlink to a missing directory", rel)
		}
		return fd, err
	default:
		return -1, err
	}
	return r.resolve(rel)
}

// mkdirDefault makes base under pfd as tar does for a parent the archive
// does not list: 0755, owned by uid:gid (the extracting user).
func mkdirDefault(pfd int, base string, uid, gid int) error {
	if err := unix.Mkdirat(pfd, base, 0o755); err != nil {
		return err
	}
	// mkdirat(2) applies the umask; the mode is set explicitly.
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmodat(pfd, base, 0o755, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return nil
}

func cleanDir(dir string) string {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return "."
	}
	return dir
}

// procPath names NAME in the directory held by fd through /proc, for the
// calls that have no *at form (lsetxattr, llistxattr, lgetxattr). Only
// /proc/self/fd/N, which is the directory itself, is a magic link; the
// l-variants do not follow NAME.
func procPath(fd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + name
}

// removeAt removes name in the directory dirfd and all below it, without
// following symlinks.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return err
	}
	if err := emptyDirAt(dirfd, name, nil); err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// emptyDirAt removes what is in the directory name under dirfd; keep, when
// set, is asked for each child (by name) and may spare it.
func emptyDirAt(dirfd int, name string, keep func(child string, fd int) (bool, error)) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if keep != nil {
			k, err := keep(n, fd)
			if err != nil {
				return err
			}
			if k {
				continue
			}
		}
		if err := removeAt(fd, n); err != nil {
			return fmt.Errorf("remove %s: %w", n, err)
		}
	}
	return nil
}

func isNotExist(err error) bool {
	return errors.Is(err, unix.ENOENT)
}
