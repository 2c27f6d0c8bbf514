package engine

import (
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// CopySource describes the tar stream of one side of `hutch cp`.
type CopySource struct {
	// Base is the first component of every entry: the source's base name,
	// or "." when the source path ended in "/." (its contents only).
	Base string
	// IsDir tells a directory from everything else.
	IsDir bool
	// Stream marks a tar the user gave (`hutch cp - CONTAINER:DIR`): it is
	// extracted as it is into an existing directory.
	Stream bool
}

// CopyOptions are cp's flags.
type CopyOptions struct {
	// Archive keeps the uid/gid of the archive (cp -a). Otherwise what is
	// copied into a container belongs to its root (0:0) and what is copied
	// out to the user running hutch, as in Docker.
	Archive bool
	// Follow copies what a symlink named as the source points to (cp -L),
	// under the link's name.
	Follow bool
}

// CopyFrom tars the path src of the container ref (resolved inside its
// root) and hands the stream to fn, while the container's root is held.
// The entries are named as Docker's: under the base name of src, or "."
// for "src/.". A running container is read as it runs (not paused), a
// stopped one from its snapshot.
func (e *Engine) CopyFrom(ctx context.Context, ref, src string, o CopyOptions, fn func(CopySource, io.Reader) error) error {
	if err := checkCopyPath(src); err != nil {
		return err
	}
	return e.withRootfs(ctx, ref, func(_ *record, root *fsRoot) error {
		return archivePath(ctx, root, src, o.Follow, fn)
	})
}

// CopyTo extracts the tar r, described by src, at the path dst of the
// container ref with Docker's rules (see prepareCopy). Every path is
// resolved inside the container's root.
func (e *Engine) CopyTo(ctx context.Context, ref, dst string, src CopySource, r io.Reader, o CopyOptions) error {
	if err := checkCopyPath(dst); err != nil {
		return err
	}
	return e.withRootfs(ctx, ref, func(rec *record, root *fsRoot) error {
		if rec.HostConfig.ReadonlyRootfs {
			return errdefs.FailedPrecondition("container %q: its root filesystem is read-only", rec.Name)
		}
		xo, dir, err := prepareCopy(root, dst, src)
		if err != nil {
			return err
		}
		if !o.Archive {
			xo.owner = &[2]int{0, 0}
		}
		return extractTar(ctx, root, dir, r, xo)
	})
}

// CopyFromHost tars the host path src for CopyTo, with the same rules as
// CopyFrom.
func CopyFromHost(ctx context.Context, src string, o CopyOptions, fn func(CopySource, io.Reader) error) error {
	abs, err := hostPath(src)
	if err != nil {
		return err
	}
	root, err := hostRoot()
	if err != nil {
		return err
	}
	defer root.close()
	return archivePath(ctx, root, abs, o.Follow, fn)
}

// CopyToHost extracts the tar r (from CopyFrom) at the host path dst. The
// destination is found as any host path is, but the entries are then
// kept inside the directory they are extracted into: a link in the
// archive cannot lead a later entry out of it.
func CopyToHost(ctx context.Context, dst string, src CopySource, r io.Reader, o CopyOptions) error {
	abs, err := hostPath(dst)
	if err != nil {
		return err
	}
	host, err := hostRoot()
	if err != nil {
		return err
	}
	defer host.close()
	xo, dir, err := prepareCopy(host, abs, src)
	if err != nil {
		return err
	}
	fd, err := host.open(dir, unix.O_PATH|unix.O_DIRECTORY, true)
	if err != nil {
		return host.pathErr("/"+strings.TrimPrefix(dir, "."), err)
	}
	root := &fsRoot{fd: fd, what: "/" + strings.TrimPrefix(dir, ".")}
	defer root.close()
	if !o.Archive {
		xo.owner = &[2]int{os.Getuid(), os.Getgid()}
	}
	return extractTar(ctx, root, ".", r, xo)
}

// hostPath makes a host path absolute (relative to the working
// directory), keeping a trailing "/" or "/.", which carry meaning.
func hostPath(p string) (string, error) {
	if err := checkCopyPath(p); err != nil {
		return "", err
	}
	if filepath.IsAbs(p) {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return wd + "/" + p, nil
}

func checkCopyPath(p string) error {
	if p == "" {
		return errdefs.InvalidArgument("empty path")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return errdefs.InvalidArgument("path %q holds a NUL byte", p)
	}
	return nil
}

// shownPath is how errors show a path: absolute, as the user meant it.
func shownPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "/" + p
	}
	return p
}

// archivePath tars src of root (see CopyFrom) into fn.
func archivePath(ctx context.Context, root *fsRoot, src string, follow bool, fn func(CopySource, io.Reader) error) error {
	rel := relPath(src)
	contents := strings.HasSuffix(src, "/.") || src == "."
	// A trailing slash asks for a directory: the kernel follows a link
	// then, and refuses a file (ENOTDIR).
	open := rel
	if strings.HasSuffix(src, "/") && rel != "." {
		open += "/"
	}
	fd, err := root.open(open, unix.O_PATH, follow || contents)
	if err != nil {
		return root.pathErr(shownPath(src), err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return root.pathErr(shownPath(src), err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	base := path.Base(rel)
	if contents || rel == "." {
		if !isDir {
			return root.pathErr(shownPath(src), unix.ENOTDIR)
		}
		base = "."
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeTar(ctx, pw, fd, &st, base)
		pw.CloseWithError(err)
		done <- err
	}()
	err = fn(CopySource{Base: base, IsDir: isDir}, pr)
	// The reader may stop early (an error on its side): unblock the writer.
	pr.CloseWithError(io.ErrClosedPipe)
	werr := <-done
	if err != nil {
		return err
	}
	if werr != nil {
		return root.pathErr(shownPath(src), werr)
	}
	return nil
}

// prepareCopy applies Docker's rules for where a copy lands
// (archive.PrepareArchiveCopy) and returns how to extract and into which
// directory (relative to root):
//
//   - dst is a directory: the source goes into it, under its own name
//     ("src/." puts the contents of src there);
//   - dst is a file: a file source replaces it (renamed to dst's name);
//     a directory source is an error;
//   - dst does not exist: its parent must; the source is extracted there
//     under dst's name (a directory's contents then fill the new dst). A
//     dst ending in "/" must exist as a directory for a file source.
//
// dst is followed if it is a symlink (to its target, resolved inside the
// root, even when the target is missing). A tar from the user
// (Stream) is extracted as it is and needs an existing directory.
func prepareCopy(root *fsRoot, dst string, src CopySource) (extractOptions, string, error) {
	rel := relPath(dst)
	assertDir := strings.HasSuffix(dst, "/") || strings.HasSuffix(dst, "/.")
	exists, isDir := false, false
	for hops := 0; ; hops++ {
		fd, err := root.open(rel, unix.O_PATH, false)
		if err == unix.ENOENT {
			break
		}
		if err == nil && hops > 40 {
			unix.Close(fd)
			err = unix.ELOOP
		}
		if err != nil {
			return extractOptions{}, "", root.pathErr(shownPath(dst), err)
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			// A symlink is replaced by what it points to, as Docker does:
			// the copy goes to the link's target (inside the root), even
			// a missing one, rather than over the link.
			buf := make([]byte, unix.PathMax)
			var n int
			if n, err = unix.Readlinkat(fd, "", buf); err == nil {
				target := string(buf[:n])
				if !path.IsAbs(target) {
					target = path.Join("/", path.Dir(rel), target)
				}
				rel = relPath(target)
				unix.Close(fd)
				continue
			}
		}
		unix.Close(fd)
		if err != nil {
			return extractOptions{}, "", root.pathErr(shownPath(dst), err)
		}
		exists, isDir = true, st.Mode&unix.S_IFMT == unix.S_IFDIR
		break
	}
	parent := path.Dir(rel)
	base := path.Base(rel)
	switch {
	case src.Stream && !exists:
		return extractOptions{}, "", root.pathErr(shownPath(dst), unix.ENOENT)
	case src.Stream && !isDir:
		return extractOptions{}, "", root.pathErr(shownPath(dst), errdefs.InvalidArgument("%s: the destination must be a directory when copying a tar stream", shownPath(dst)))
	case exists && isDir:
		return extractOptions{}, rel, nil
	case exists && src.IsDir:
		return extractOptions{}, "", root.pathErr(shownPath(dst), errdefs.InvalidArgument("%s: cannot copy a directory to a file", shownPath(dst)))
	case !exists && !src.IsDir && assertDir:
		return extractOptions{}, "", root.pathErr(shownPath(dst), errdefs.NotFound("%s: no such directory", shownPath(dst)))
	}
	return extractOptions{rebaseFrom: src.Base, rebaseTo: base}, parent, nil
}
