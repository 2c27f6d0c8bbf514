package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// Diff writes the layer tar (uncompressed) of the overlay upper directory
// upper: overlayfs whiteouts (0/0 character devices, or since Linux 6.7
// empty files with trusted.overlay.whiteout) become .wh.NAME entries, opaque
// directories (trusted.overlay.opaque or user.overlay.opaque "y") are followed
// by a .wh..wh..opq entry, files that share an inode become tar hardlinks, and
// overlayfs's own xattrs are left out. lowers, topmost first as in lowerdir=,
// are read only for the content of metacopy files (an upper mounted with
// metacopy=on keeps only metadata of a file whose data did not change).
//
// Entries are sorted by name, mtimes are cut to whole seconds and atimes
// and owner names left out, so the same tree always gives the same digest.
func Diff(ctx context.Context, w io.Writer, upper string, lowers ...string) error {
	t := &tarWriter{diff: true, lowers: lowers}
	if err := t.write(ctx, w, upper); err != nil {
		return fmt.Errorf("diff %s: %w", upper, err)
	}
	return nil
}

// Tar writes an uncompressed tar of the whole tree under dir (without the
// root itself), in the same deterministic form as Diff but with no whiteout
// translation: for export, import and tests.
func Tar(ctx context.Context, w io.Writer, dir string) error {
	t := &tarWriter{}
	if err := t.write(ctx, w, dir); err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	return nil
}

type inode struct{ dev, ino uint64 }

type tarWriter struct {
	diff   bool
	lowers []string
	tw     *tar.Writer
	links  map[inode]string
	buf    []byte
	xbuf   []byte
}

func (t *tarWriter) write(ctx context.Context, w io.Writer, dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	t.tw = tar.NewWriter(w)
	t.links = map[inode]string{}
	t.buf = getBuf()
	defer putBuf(t.buf)
	t.xbuf = make([]byte, 64<<10)
	if err := t.walk(ctx, fd, ""); err != nil {
		return err
	}
	return t.tw.Close()
}

// walk writes the entries of the directory fd, named rel in the tar ("" for
// the root), in byte order of their names. Everything is opened relative to
// its parent with O_NOFOLLOW, so a tree changed under us cannot make Diff
// read outside it.
func (t *tarWriter) walk(ctx context.Context, fd int, rel string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), rel)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("read directory %q: %w", rel, err)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := t.entry(ctx, fd, name, path.Join(rel, name)); err != nil {
			return err
		}
	}
	return nil
}

func (t *tarWriter) entry(ctx context.Context, dirfd int, name, rel string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("entry %q: stat: %w", rel, err)
	}
	xa, err := t.listXattrs(dirfd, name)
	if err != nil {
		return fmt.Errorf("entry %q: %w", rel, err)
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
	}
	// Whiteouts first: overlayfs (5.8 and later) hardlinks all its
	// whiteouts to one shared inode, which must not read as a hardlink.
	if t.diff && (isWhiteout(&st) ||
		(st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 0 && hasKey(xa, "trusted.overlay.whiteout", "user.overlay.whiteout"))) {
		dir, base := path.Split(rel)
		hdr.Name = dir + whiteoutPrefix + base
		hdr.Typeflag = tar.TypeReg
		hdr.Mode = 0o644
		hdr.Uid, hdr.Gid = 0, 0
		return t.header(hdr)
	}
	for k, v := range xa {
		if isOverlayXattr(k) || k == "security.selinux" {
			// SELinux labels are the host's, set again by the runtime.
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[xattrPrefix+k] = v
	}

	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if t.diff && hasKey(xa, "trusted.overlay.redirect", "user.overlay.redirect") {
			return errdefs.NotImplemented("entry %q: directory renamed with redirect_dir (mount overlay with redirect_dir=off)", rel)
		}
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if err := t.header(hdr); err != nil {
			return err
		}
		if t.diff && (xa["trusted.overlay.opaque"] == "y" || xa["user.overlay.opaque"] == "y") {
			if err := t.header(&tar.Header{
				Name: rel + "/" + whiteoutOpaque, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: hdr.ModTime,
			}); err != nil {
				return err
			}
		}
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("entry %q: open: %w", rel, err)
		}
		defer unix.Close(fd)
		return t.walk(ctx, fd, rel)
	case unix.S_IFSOCK:
		// tar has no sockets; GNU tar skips them too.
		return nil
	}

	if st.Nlink > 1 {
		id := inode{st.Dev, st.Ino}
		if first, ok := t.links[id]; ok {
			// A hardlink entry carries no data or xattrs of its own.
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			hdr.PAXRecords = nil
			return t.header(hdr)
		}
		t.links[id] = rel
	}

	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		return t.file(dirfd, name, rel, hdr, st.Size, xa)
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		b := t.xbuf
		n, err := unix.Readlinkat(dirfd, name, b)
		if err != nil {
			return fmt.Errorf("entry %q: readlink: %w", rel, err)
		}
		hdr.Linkname = string(b[:n])
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
		return errdefs.InvalidArgument("entry %q: unknown file type %o", rel, st.Mode&unix.S_IFMT)
	}
	return t.header(hdr)
}

func (t *tarWriter) header(hdr *tar.Header) error {
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	return nil
}

func (t *tarWriter) file(dirfd int, name, rel string, hdr *tar.Header, size int64, xa map[string]string) error {
	var f *os.File
	if t.diff && hasKey(xa, "trusted.overlay.metacopy", "user.overlay.metacopy") {
		var err error
		if f, err = t.lowerData(rel, xa); err != nil {
			return fmt.Errorf("entry %q: metacopy: %w", rel, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("entry %q: %w", rel, err)
		}
		size = fi.Size()
	} else {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("entry %q: open: %w", rel, err)
		}
		f = os.NewFile(uintptr(fd), rel)
	}
	defer f.Close()
	hdr.Size = size
	if err := t.header(hdr); err != nil {
		return err
	}
	// The size in the header is what must follow: a file that grew is cut,
	// one that shrank is an error rather than a corrupt tar.
	n, err := io.CopyBuffer(t.tw, io.LimitReader(f, size), t.buf)
	if err == nil && n != size {
		err = fmt.Errorf("file changed size while being read (%d of %d bytes)", n, size)
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", rel, err)
	}
	return nil
}

// lowerData opens the data of a metacopy file: the lower file at its
// redirect (absolute in the overlay) or at the same path, topmost lower
// first.
func (t *tarWriter) lowerData(rel string, xa map[string]string) (*os.File, error) {
	p := rel
	if r := xa["trusted.overlay.redirect"] + xa["user.overlay.redirect"]; strings.HasPrefix(r, "/") {
		p = strings.TrimPrefix(r, "/")
	}
	for _, l := range t.lowers {
		f, err := os.OpenInRoot(l, p)
		if err == nil {
			return f, nil
		}
		if !os.IsNotExist(err) {
			return nil, err
		}
	}
	return nil, errdefs.NotFound("no lower layer holds %q", p)
}

// listXattrs reads every xattr of name under dirfd without following it.
func (t *tarWriter) listXattrs(dirfd int, name string) (map[string]string, error) {
	p := procPath(dirfd, name)
	n, err := unix.Llistxattr(p, t.xbuf)
	if err == unix.ERANGE {
		if n, err = unix.Llistxattr(p, nil); err == nil {
			t.xbuf = make([]byte, 2*n)
			n, err = unix.Llistxattr(p, t.xbuf)
		}
	}
	if err == unix.ENOTSUP || n == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs: %w", err)
	}
	keys := strings.Split(strings.TrimSuffix(string(t.xbuf[:n]), "\x00"), "\x00")
	xa := make(map[string]string, len(keys))
	for _, k := range keys {
		v, err := lgetxattr(p, k)
		if err == unix.ENODATA {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get xattr %s: %w", k, err)
		}
		xa[k] = string(v)
	}
	return xa, nil
}

func lgetxattr(p, k string) ([]byte, error) {
	b := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, k, b)
		if err == unix.ERANGE {
			b = make([]byte, 2*len(b))
			if len(b) > 1<<20 {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return b[:n], nil
	}
}

// hasKey: overlayfs marks some states by the presence of an xattr whose value
// may be empty (metacopy, whiteout).
func hasKey(xa map[string]string, keys ...string) bool {
	for _, k := range keys {
		if _, ok := xa[k]; ok {
			return true
		}
	}
	return false
}
