package archive

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Directories a layer needs but does not list (WithParentLayers): made with
// the metadata of the same path in the layers below, as umoci and
// containerd do, so that an overlay upper does not hide the lower
// directory's mode, owner and xattrs behind 0755 root:root.

func (a *applier) openLowers() error {
	for _, dir := range a.o.parents {
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("parent layer: %w", &os.PathError{Op: "open", Path: dir, Err: err})
		}
		a.lowers = append(a.lowers, fd)
	}
	return nil
}

func (a *applier) closeLowers() {
	for _, fd := range a.lowers {
		unix.Close(fd)
	}
	a.lowers = nil
}

// mkParent makes the missing directory base under pfd (rel in the root): as
// the first lower showing rel as a directory has it, else 0755 owned by the
// extracting user. The mkdirat error is returned as it is (for mkdirAll).
func (a *applier) mkParent(pfd int, base, rel string) error {
	if len(a.lowers) == 0 {
		return mkdirDefault(pfd, base, a.rootUID, a.rootGID)
	}
	if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
		return err
	}
	found, err := a.copyLowerDirFound(pfd, base, rel)
	if err != nil || found {
		return err
	}
	if err := unix.Fchownat(pfd, base, a.rootUID, a.rootGID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmodat(pfd, base, 0o755, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return nil
}

// copyLowerDir gives base under pfd (rel in the root) the metadata of rel in
// the lowers, if one shows it as a directory; else leaves it as it is.
func (a *applier) copyLowerDir(pfd int, base, rel string) error {
	_, err := a.copyLowerDirFound(pfd, base, rel)
	return err
}

func (a *applier) copyLowerDirFound(pfd int, base, rel string) (bool, error) {
	src, err := a.findLower(rel)
	if err != nil {
		return false, fmt.Errorf("look up %q in the parent layers: %w", rel, err)
	}
	if src < 0 {
		return false, nil
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return false, fmt.Errorf("stat lower %q: %w", rel, err)
	}
	if err := unix.Fchownat(pfd, base, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, fmt.Errorf("chown: %w", err)
	}
	// base is a directory this Apply just made (or the root): no symlink.
	if err := unix.Fchmodat(pfd, base, st.Mode&0o7777, 0); err != nil {
		return false, fmt.Errorf("chmod: %w", err)
	}
	tw := &tarWriter{xbuf: make([]byte, 4096)}
	xa, err := tw.listXattrs(src, ".")
	if err != nil {
		return false, fmt.Errorf("lower %q: %w", rel, err)
	}
	for k, v := range xa {
		if isOverlayXattr(k) {
			continue
		}
		if err := unix.Lsetxattr(procPath(pfd, base), k, []byte(v), 0); err != nil {
			return false, fmt.Errorf("set xattr %s: %w", k, err)
		}
	}
	// Times at the end, with the listed directories (an entry for rel
	// later in the layer comes after and wins).
	a.dirs = append(a.dirs, dirTimes{name: rel, atime: st.Atim, mtime: st.Mtim})
	return true, nil
}

// findLower returns an O_PATH descriptor of rel in the first lower that
// shows it as a directory, or -1 when none does or a layer above hides it:
// an opaque directory of this layer or of a lower on the way, or a
// whiteout, file or symlink in a lower in its place or on the way. Each
// lower is walked one component at a time inside its root
// (RESOLVE_IN_ROOT) without following any symlink (RESOLVE_NO_SYMLINKS).
func (a *applier) findLower(rel string) (int, error) {
	comps := []string{}
	if rel != "." {
		comps = strings.Split(rel, "/")
	}
	// This layer's own opaque directories above rel.
	for i := 1; i < len(comps); i++ {
		fd, err := a.root.resolve(strings.Join(comps[:i], "/"))
		if err != nil {
			return -1, err
		}
		if isOpaqueDir(fd) {
			return -1, nil
		}
	}
	for _, lfd := range a.lowers {
		fd, hidden, err := lookupLower(lfd, comps)
		if err != nil || fd >= 0 || hidden {
			return fd, err
		}
	}
	return -1, nil
}

// lookupLower finds comps in the lower lfd: a descriptor when it is a
// directory there; else hidden tells whether this lower hides the ones
// below it.
func lookupLower(lfd int, comps []string) (fd int, hidden bool, err error) {
	if len(comps) == 0 {
		fd, err := unix.Openat(lfd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return fd, false, err
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for i := range comps {
		p := strings.Join(comps[:i+1], "/")
		var fd int
		var err error
		for range 16 {
			fd, err = unix.Openat2(lfd, p, &how)
			if err != unix.EAGAIN && err != unix.EINTR {
				break
			}
		}
		switch err {
		case nil:
		case unix.ENOENT:
			return -1, false, nil
		case unix.ENOTDIR, unix.ELOOP:
			return -1, true, nil
		default:
			return -1, false, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, false, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// A whiteout, a file or a symlink takes the name.
			unix.Close(fd)
			return -1, true, nil
		}
		if i == len(comps)-1 {
			return fd, false, nil
		}
		opaque := isOpaqueDir(fd)
		unix.Close(fd)
		if opaque {
			return -1, true, nil
		}
	}
	return -1, false, nil
}

// isOpaqueDir tells whether the directory fd is marked opaque, in either
// of overlay's forms.
func isOpaqueDir(fd int) bool {
	for _, k := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if v, err := lgetxattr(procPath(fd, "."), k); err == nil && string(v) == "y" {
			return true
		}
	}
	return false
}
