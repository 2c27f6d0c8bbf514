package engine

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/archive"
	"hutch.dev/hutch/errdefs"
)

// writeTar writes the tar of the object fd (an O_PATH descriptor, st its
// stat) as cp sends it: one entry named base for a file, a symlink or a
// device; for a directory the entry "base/" and then its whole tree under
// it, as archive.Tar writes trees (sorted, hard links kept, xattrs but
// overlayfs's own). base "." gives "./" and "./NAME" entries: the
// directory's contents.
func writeTar(ctx context.Context, w io.Writer, fd int, st *unix.Stat_t, base string) error {
	tw := tar.NewWriter(w)
	hdr, err := headerOf(fd, st, base)
	if err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Name = base + "/"
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := copyTree(ctx, tw, procFD(fd), base+"/"); err != nil {
			return err
		}
	case unix.S_IFREG:
		// The O_PATH descriptor is opened again for reading through its
		// magic link: the same inode, no path walked again.
		f, err := os.Open(procFD(fd))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, io.LimitReader(f, hdr.Size))
		if err == nil && n != hdr.Size {
			err = fmt.Errorf("%s: file changed size while being read (%d of %d bytes)", base, n, hdr.Size)
		}
		if err != nil {
			return err
		}
	default:
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	return tw.Close()
}

func procFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// headerOf describes one object (fd, O_PATH) as a tar header named name.
func headerOf(fd int, st *unix.Stat_t, name string) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		buf := make([]byte, unix.PathMax)
		// readlinkat(2) with an empty path reads the link an O_PATH
		// descriptor holds.
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return nil, fmt.Errorf("%s: readlink: %w", name, err)
		}
		hdr.Linkname = string(buf[:n])
		return hdr, nil
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, errdefs.InvalidArgument("%s: a socket cannot be copied", name)
	}
	// Through the magic link, getxattr reaches the object itself.
	for k, v := range xattrsOf(procFD(fd)) {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = v
	}
	return hdr, nil
}

// xattrsOf reads the xattrs of p that belong in a tar: not overlayfs's own
// and not the host's SELinux label.
func xattrsOf(p string) map[string]string {
	buf := make([]byte, 64<<10)
	n, err := unix.Listxattr(p, buf)
	if err != nil || n == 0 {
		return nil
	}
	out := map[string]string{}
	for _, k := range strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00") {
		if strings.HasPrefix(k, "trusted.overlay.") || strings.HasPrefix(k, "user.overlay.") || k == "security.selinux" {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Getxattr(p, k, v)
		if err == nil {
			out[k] = string(v[:m])
		}
	}
	return out
}

// copyTree writes archive.Tar's tar of dir into tw with every name (and
// every hard link's target) under prefix.
func copyTree(ctx context.Context, tw *tar.Writer, dir, prefix string) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := archive.Tar(ctx, pw, dir)
		pw.CloseWithError(err)
		done <- err
	}()
	err := func() error {
		tr := tar.NewReader(pr)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			hdr.Name = prefix + hdr.Name
			if hdr.Typeflag == tar.TypeLink {
				hdr.Linkname = prefix + hdr.Linkname
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
		}
	}()
	pr.CloseWithError(io.ErrClosedPipe)
	if werr := <-done; werr != nil && err == nil {
		err = werr
	}
	return err
}

// extractOptions say how extractTar writes entries.
type extractOptions struct {
	// rebaseFrom and rebaseTo rename the first component of every entry
	// (Docker's RebaseArchiveEntries); from "." puts every entry under to.
	rebaseFrom, rebaseTo string
	// owner, when set, owns everything extracted (cp without -a);
	// otherwise the archive's uid/gid are kept.
	owner *[2]int
}

// extractTar unpacks the tar r into the directory dirRel of root. Each
// entry's parent is resolved inside root (RESOLVE_IN_ROOT) and the entry
// itself made with *at calls on it that never follow it, so neither an
// entry's name nor a symlink, in the archive or already in the root, can
// put anything outside the root. As Docker's cp: a directory never
// replaces a non-directory and the other way round, an existing
// directory keeps its contents, and parents the archive does not list
// are made 0755.
//
// archive.Apply is not used: it reads .wh. names as whiteouts (a file of
// that name copied in would delete another) and replaces whatever is in
// the way, which is right for a layer but not for cp.
func extractTar(ctx context.Context, root *fsRoot, dirRel string, r io.Reader, o extractOptions) error {
	dfd, err := root.open(dirRel, unix.O_PATH|unix.O_DIRECTORY, true)
	if err != nil {
		return root.pathErr("/"+strings.TrimPrefix(dirRel, "."), err)
	}
	unix.Close(dfd)
	x := &extractor{ctx: ctx, root: root, dir: dirRel, o: o}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errdefs.InvalidArgument("read tar: %v", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	// Directory times last: what was made in them changed their mtimes.
	for _, d := range x.dirs {
		pfd, base, err := x.parent(d.rel, false)
		if err != nil {
			continue
		}
		unix.UtimesNanoAt(pfd, base, d.ts, unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(pfd)
	}
	// Whatever follows the end of the archive is read, so that a writer
	// piping into us does not fail on a closed pipe.
	io.Copy(io.Discard, r)
	return nil
}

type extractor struct {
	ctx  context.Context
	root *fsRoot
	dir  string
	o    extractOptions
	dirs []struct {
		rel string
		ts  []unix.Timespec
	}
}

// target maps an entry name to its path relative to the root, refusing
// names that climb out of the directory being extracted into.
func (x *extractor) target(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", errdefs.InvalidArgument("tar entry %q: name holds a NUL byte", name)
	}
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", errdefs.InvalidArgument("tar entry %q: path escapes the destination directory", name)
	}
	if p == "" {
		p = "."
	}
	switch from := x.o.rebaseFrom; {
	case from == "":
	case from == ".":
		p = path.Join(x.o.rebaseTo, p)
	case p == from:
		p = x.o.rebaseTo
	case strings.HasPrefix(p, from+"/"):
		p = x.o.rebaseTo + p[len(from):]
	}
	return path.Join(x.dir, p), nil
}

// parent opens the parent directory of rel inside the root (making the
// missing ones when mk) and returns it with rel's last component.
func (x *extractor) parent(rel string, mk bool) (int, string, error) {
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	fd, err := x.root.open(dir, unix.O_PATH|unix.O_DIRECTORY, true)
	if err == unix.ENOENT && mk {
		if err = x.mkdirAll(dir); err == nil {
			fd, err = x.root.open(dir, unix.O_PATH|unix.O_DIRECTORY, true)
		}
	}
	if err != nil {
		return -1, "", err
	}
	return fd, base, nil
}

func (x *extractor) mkdirAll(rel string) error {
	pfd, base, err := x.parent(rel, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, 0o755); err != nil && err != unix.EEXIST {
		return err
	}
	if x.o.owner != nil {
		unix.Fchownat(pfd, base, x.o.owner[0], x.o.owner[1], unix.AT_SYMLINK_NOFOLLOW)
	}
	return unix.Fchmodat(pfd, base, 0o755, 0)
}

func (x *extractor) entry(hdr *tar.Header, content io.Reader) error {
	rel, err := x.target(hdr.Name)
	if err != nil {
		return err
	}
	if rel == x.dir && hdr.Typeflag == tar.TypeDir {
		// "./": the directory extracted into, which exists already.
		return nil
	}
	shown := "/" + strings.TrimPrefix(rel, "./")
	if rel == "." {
		shown = "/"
	}
	if err := x.make(rel, hdr, content); err != nil {
		return x.root.pathErr(shown, err)
	}
	return nil
}

func (x *extractor) make(rel string, hdr *tar.Header, content io.Reader) error {
	if rel == "." {
		return errdefs.InvalidArgument("/: cannot overwrite the root directory")
	}
	pfd, base, err := x.parent(rel, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	exists := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	isDir := exists && st.Mode&unix.S_IFMT == unix.S_IFDIR
	shown := "/" + rel
	switch {
	case hdr.Typeflag == tar.TypeDir && exists && !isDir:
		return errdefs.InvalidArgument("%s: cannot overwrite non-directory with directory", shown)
	case hdr.Typeflag != tar.TypeDir && isDir:
		return errdefs.InvalidArgument("%s: cannot overwrite directory with non-directory", shown)
	case hdr.Typeflag != tar.TypeDir && exists:
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return err
		}
	}
	mode := uint32(hdr.Mode) & 0o7777
	uid, gid := hdr.Uid, hdr.Gid
	if x.o.owner != nil {
		uid, gid = x.o.owner[0], x.o.owner[1]
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !exists {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return err
			}
		}
	case tar.TypeReg, tar.TypeRegA:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		_, err = io.Copy(f, content)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		// The target is data: only ever resolved inside a root.
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		trel, err := x.target(hdr.Linkname)
		if err != nil {
			return err
		}
		tfd, tbase, err := x.parent(trel, false)
		if err != nil {
			return fmt.Errorf("hard link target %s: %w", hdr.Linkname, err)
		}
		// Without AT_SYMLINK_FOLLOW linkat(2) links the target itself.
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
		unix.Close(tfd)
		if err != nil {
			return fmt.Errorf("hard link to %s: %w", hdr.Linkname, err)
		}
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		if err := unix.Mknodat(pfd, base, kind|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return errdefs.InvalidArgument("tar entry %q: unsupported type %q", hdr.Name, hdr.Typeflag)
	}
	// Owner, then mode (chown clears setuid bits), then xattrs, then
	// times; never through a symlink.
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && !(err == unix.EPERM && x.o.owner != nil) {
		return fmt.Errorf("chown: %w", err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// base was made by this entry: not a symlink.
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		if err := unix.Lsetxattr(procFD(pfd)+"/"+base, name, []byte(v), 0); err != nil && err != unix.ENOTSUP {
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if !hdr.AccessTime.IsZero() {
		ts[0] = unix.NsecToTimespec(hdr.AccessTime.UnixNano())
	}
	if hdr.Typeflag == tar.TypeDir {
		x.dirs = append(x.dirs, struct {
			rel string
			ts  []unix.Timespec
		}{rel, ts})
		return nil
	}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}
