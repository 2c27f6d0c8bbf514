package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/archive"
	"hutch.dev/hutch/errdefs"
)

// nativeDiff writes the layer tar of a native snapshot: its changes
// against the image's tree (treeChanges) are laid out as an overlay upper
// directory would hold them, in a temporary directory beside the
// snapshots (changed files hard-linked, so nothing is copied; directories
// made with their metadata; deletions as 0/0 character devices), and
// archive.Diff writes that, as for overlay.
func (e *Engine) nativeDiff(ctx context.Context, r *record, l *layerDirs, w io.Writer) error {
	changes, err := treeChanges(ctx, l.tree, l.parent)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(e.Root, ".commit-upper-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src, err := unix.Open(l.tree, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: l.tree, Err: err}
	}
	defer unix.Close(src)
	dst, err := unix.Open(tmp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dst)
	// The paths come from a walk that followed no symlink; resolving them
	// again follows none either.
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	parents := func(p string) (int, int, string, error) {
		dir, base := path.Split(strings.TrimPrefix(p, "/"))
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" {
			dir = "."
		}
		sfd, err := unix.Openat2(src, dir, &how)
		if err != nil && err != unix.ENOENT {
			return -1, -1, "", err
		}
		dfd, derr := unix.Openat2(dst, dir, &how)
		if derr != nil {
			if sfd >= 0 {
				unix.Close(sfd)
			}
			return -1, -1, "", derr
		}
		return sfd, dfd, base, nil
	}
	type dirTime struct {
		path string
		ts   []unix.Timespec
	}
	var dirs []dirTime
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Changes are sorted by path: a directory comes before what is in
		// it, so every parent exists in tmp by the time it is needed.
		sfd, dfd, base, err := parents(c.Path)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Path, err)
		}
		err = func() error {
			defer unix.Close(dfd)
			if sfd >= 0 {
				defer unix.Close(sfd)
			}
			if c.Kind == 'D' {
				return unix.Mknodat(dfd, base, unix.S_IFCHR, 0)
			}
			var st unix.Stat_t
			if err := unix.Fstatat(sfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				err := unix.Linkat(sfd, base, dfd, base, 0)
				if err == unix.EXDEV {
					return errdefs.NotImplemented("the snapshots and %s are on different file systems", e.Root)
				}
				return err
			}
			if err := unix.Mkdirat(dfd, base, 0o700); err != nil {
				return err
			}
			p := procFD(dfd) + "/" + base
			if err := unix.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
			if err := unix.Chmod(p, st.Mode&0o7777); err != nil {
				return err
			}
			for k, v := range xattrsOf(procFD(sfd) + "/" + base) {
				if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
					return fmt.Errorf("set xattr %s: %w", k, err)
				}
			}
			dirs = append(dirs, dirTime{c.Path, []unix.Timespec{st.Atim, st.Mtim}})
			return nil
		}()
		if err != nil {
			return fmt.Errorf("container %q: commit %s: %w", r.Name, c.Path, err)
		}
	}
	// Directory times last, deepest first: making their contents changed
	// them.
	for i := len(dirs) - 1; i >= 0; i-- {
		p := strings.TrimPrefix(dirs[i].path, "/")
		if err := unix.UtimesNanoAt(dst, p, dirs[i].ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("container %q: commit %s: %w", r.Name, dirs[i].path, err)
		}
	}
	return archive.Diff(ctx, w, tmp)
}
