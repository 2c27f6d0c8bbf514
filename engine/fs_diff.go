package engine

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/snapshot/native"
	"hutch.dev/hutch/snapshot/overlay"
)

// Change is one line of `hutch diff`: Docker's kinds A (added), C
// (changed) and D (deleted), and the path in the container.
type Change struct {
	Kind byte
	Path string
}

func (c Change) String() string { return string(c.Kind) + " " + c.Path }

// Diff lists what the container ref changed in its image's file system,
// sorted by path as Docker prints it. A directory that holds a change is
// itself changed (its copy in the writable layer); the contents of an
// added or deleted directory are not listed under a deletion.
func (e *Engine) Diff(ctx context.Context, ref string) ([]Change, error) {
	var out []Change
	err := e.withLayer(ctx, ref, func(_ *record, l *layerDirs) error {
		var err error
		out, err = l.changes(ctx)
		return err
	})
	return out, err
}

// layerDirs is a container's writable layer as directories: for overlay
// its upper and the image's lower layers (topmost first); for the native
// driver its full tree and the image's full tree.
type layerDirs struct {
	upper  string
	lowers []string
	// native: tree is the container's whole file system, parent the
	// image's.
	tree, parent string
}

// withLayer runs fn on the directories of the container's writable layer,
// under the container's lock.
func (e *Engine) withLayer(ctx context.Context, ref string, fn func(r *record, l *layerDirs) error) error {
	r, unlock, err := e.lockedRecord(ref)
	if err != nil {
		return err
	}
	defer unlock()
	if r.State.Status == StatusRemoving || r.State.Status == StatusDead {
		return errdefs.Conflict("container %q is %s", r.Name, r.State.Status)
	}
	ms, err := e.sn.Mounts(ctx, r.Snapshot)
	if err != nil {
		return wrap(&r.Container, "its writable layer", err)
	}
	if len(ms) != 1 {
		return errdefs.NotImplemented("container %q: a writable layer of %d mounts", r.Name, len(ms))
	}
	m := ms[0]
	dirs := &layerDirs{}
	switch {
	case m.Type == "overlay":
		for _, o := range m.Options {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "upperdir":
				dirs.upper = v
			case "lowerdir":
				dirs.lowers = overlay.SplitLowers(v)
			}
		}
		if dirs.upper == "" {
			return errdefs.FailedPrecondition("container %q: its writable layer has no upper directory", r.Name)
		}
	case m.Type == "bind" && isNative(e):
		dirs.tree = m.Source
		info, err := e.sn.Stat(ctx, r.Snapshot)
		if err != nil {
			return wrap(&r.Container, "its writable layer", err)
		}
		if info.Parent != "" {
			// A view of the image's snapshot is its tree, read-only; it
			// is only recorded, never mounted here.
			key := "fs-view-" + r.ID + "-" + newID()[:8]
			vms, err := e.sn.View(ctx, key, info.Parent)
			if err != nil {
				return wrap(&r.Container, "view its image", err)
			}
			defer e.sn.Remove(context.WithoutCancel(ctx), key)
			if len(vms) != 1 || vms[0].Type != "bind" {
				return errdefs.NotImplemented("container %q: unexpected view of its image", r.Name)
			}
			dirs.parent = vms[0].Source
		}
	case m.Type == "bind":
		// An overlay snapshot without a parent: the upper alone.
		dirs.upper = m.Source
	default:
		return errdefs.NotImplemented("container %q: a writable layer mounted as %s", r.Name, m.Type)
	}
	return fn(r, dirs)
}

func isNative(e *Engine) bool {
	_, ok := e.sn.(*native.Snapshotter)
	return ok
}

func (l *layerDirs) changes(ctx context.Context) ([]Change, error) {
	var out []Change
	var err error
	if l.tree != "" {
		out, err = treeChanges(ctx, l.tree, l.parent)
	} else {
		out, err = overlayChanges(ctx, l.upper, l.lowers)
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// dirNames lists the directory fd, sorted.
func dirNames(fd int) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "")
	defer f.Close()
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}

func openDirAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// overlayChanges reads the changes from an overlay upper directory: a
// whiteout (a 0/0 character device, or an empty file marked
// trusted.overlay.whiteout) is a deletion; anything else is a change when
// a lower layer shows the path, an addition otherwise. Below an opaque or
// added directory everything is added.
func overlayChanges(ctx context.Context, upper string, lowers []string) ([]Change, error) {
	fd, err := unix.Open(upper, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: upper, Err: err}
	}
	defer unix.Close(fd)
	var lfds []int
	defer func() {
		for _, l := range lfds {
			unix.Close(l)
		}
	}()
	for _, l := range lowers {
		lfd, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: l, Err: err}
		}
		lfds = append(lfds, lfd)
	}
	var out []Change
	var walk func(dirfd int, rel string, inLower bool) error
	walk = func(dirfd int, rel string, inLower bool) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		names, err := dirNames(dirfd)
		if err != nil {
			return fmt.Errorf("diff %s: %w", rel, err)
		}
		for _, name := range names {
			p := path.Join(rel, name)
			var st unix.Stat_t
			if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("diff %s: %w", p, err)
			}
			if isWhiteoutAt(dirfd, name, &st) {
				out = append(out, Change{'D', p})
				continue
			}
			exists := inLower && lowerHas(lfds, p)
			kind := byte('A')
			if exists {
				kind = 'C'
			}
			out = append(out, Change{kind, p})
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			cfd, err := openDirAt(dirfd, name)
			if err != nil {
				return fmt.Errorf("diff %s: %w", p, err)
			}
			err = walk(cfd, p, exists && !isOpaque(cfd))
			unix.Close(cfd)
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(fd, "/", len(lfds) > 0); err != nil {
		return nil, err
	}
	return out, nil
}

func isWhiteoutAt(dirfd int, name string, st *unix.Stat_t) bool {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		return st.Rdev == 0
	case unix.S_IFREG:
		if st.Size != 0 {
			return false
		}
		for _, k := range []string{"trusted.overlay.whiteout", "user.overlay.whiteout"} {
			if _, err := unix.Lgetxattr(procFD(dirfd)+"/"+name, k, nil); err == nil {
				return true
			}
		}
	}
	return false
}

func isOpaque(fd int) bool {
	buf := make([]byte, 8)
	for _, k := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Fgetxattr(fd, k, buf); err == nil && string(buf[:n]) == "y" {
			return true
		}
	}
	return false
}

// lowerHas tells whether the merged lowers (topmost first) show p: the
// first lower holding p or something in its way decides. A whiteout, or a
// file where a directory is needed, hides p; an opaque directory on the
// way hides the lowers below it. No symlink is followed.
func lowerHas(lfds []int, p string) bool {
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for _, lfd := range lfds {
		stop := false
		for i := range comps {
			fd, err := unix.Openat2(lfd, strings.Join(comps[:i+1], "/"), &how)
			if err == unix.ENOENT {
				break // not in this lower: ask the next, unless opaque above
			}
			if err != nil {
				return false // a file or link in the way
			}
			var st unix.Stat_t
			err = unix.Fstat(fd, &st)
			last := i == len(comps)-1
			dir := err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
			opaque := dir && !last && isOpaquePath(fd)
			unix.Close(fd)
			if err != nil || (st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0) {
				return false // a whiteout
			}
			if last {
				return true
			}
			if !dir {
				return false
			}
			if opaque {
				stop = true
			}
		}
		if stop {
			return false
		}
	}
	return false
}

func isOpaquePath(fd int) bool {
	buf := make([]byte, 8)
	for _, k := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Getxattr(procFD(fd), k, buf); err == nil && string(buf[:n]) == "y" {
			return true
		}
	}
	return false
}

// treeChanges compares the full tree of a native snapshot with its
// parent's, as Docker's naive differ does: a path only in tree is added,
// one only in parent deleted, one in both changed when its type, mode,
// owner or device differs, or (not a directory) its size or mtime. A
// directory holding a change counts as changed.
func treeChanges(ctx context.Context, tree, parent string) ([]Change, error) {
	nfd, err := unix.Open(tree, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: tree, Err: err}
	}
	defer unix.Close(nfd)
	ofd := -1
	if parent != "" {
		if ofd, err = unix.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return nil, &os.PathError{Op: "open", Path: parent, Err: err}
		}
		defer unix.Close(ofd)
	}
	var out []Change
	var walk func(nfd, ofd int, rel string) (bool, error)
	walk = func(nfd, ofd int, rel string) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		changed := false
		names, err := dirNames(nfd)
		if err != nil {
			return false, fmt.Errorf("diff %s: %w", rel, err)
		}
		var old []string
		if ofd >= 0 {
			if old, err = dirNames(ofd); err != nil {
				return false, fmt.Errorf("diff %s: %w", rel, err)
			}
		}
		for _, name := range names {
			p := path.Join(rel, name)
			var nst, ost unix.Stat_t
			if err := unix.Fstatat(nfd, name, &nst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return false, fmt.Errorf("diff %s: %w", p, err)
			}
			inOld := ofd >= 0 && unix.Fstatat(ofd, name, &ost, unix.AT_SYMLINK_NOFOLLOW) == nil
			at := len(out)
			if !inOld {
				out = append(out, Change{'A', p})
				changed = true
			} else if statChanged(&ost, &nst) {
				out = append(out, Change{'C', p})
				changed = true
			}
			if nst.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			cn, err := openDirAt(nfd, name)
			if err != nil {
				return false, fmt.Errorf("diff %s: %w", p, err)
			}
			co := -1
			if inOld && ost.Mode&unix.S_IFMT == unix.S_IFDIR {
				if co, err = openDirAt(ofd, name); err != nil {
					unix.Close(cn)
					return false, fmt.Errorf("diff %s: %w", p, err)
				}
			}
			sub, err := walk(cn, co, p)
			unix.Close(cn)
			if co >= 0 {
				unix.Close(co)
			}
			if err != nil {
				return false, err
			}
			if sub && out[at].Path != p {
				out = slices.Insert(out, at, Change{'C', p})
			}
			changed = changed || sub
		}
		for _, name := range old {
			if _, found := slices.BinarySearch(names, name); !found {
				out = append(out, Change{'D', path.Join(rel, name)})
				changed = true
			}
		}
		return changed, nil
	}
	if _, err := walk(nfd, ofd, "/"); err != nil {
		return nil, err
	}
	return out, nil
}

func statChanged(o, n *unix.Stat_t) bool {
	if o.Mode != n.Mode || o.Uid != n.Uid || o.Gid != n.Gid || o.Rdev != n.Rdev {
		return true
	}
	if n.Mode&unix.S_IFMT == unix.S_IFDIR {
		return false
	}
	return o.Size != n.Size || o.Mtim != n.Mtim
}
