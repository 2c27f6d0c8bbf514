package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

const (
	whiteoutPrefix = ".wh."
	// whiteoutMeta prefixes aufs's own bookkeeping (.wh..wh.plnk,
	// .wh..wh.aufs), which old Docker layers may still carry.
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"

	xattrPrefix = "SCHILY.xattr."
)

// Apply unpacks the layer tar read from r (gzip, zstd or plain, detected
// from its first bytes) into dir, and returns the bytes of file content it
// wrote. Without WithMerged, dir becomes an overlay lower layer: it must not
// exist or be empty, the layer is unpacked beside it and renamed into place
// when complete, and whiteouts become overlayfs's whiteouts (.wh.NAME a 0/0
// character device NAME, .wh..wh..opq the xattr trusted.overlay.opaque=y on
// its directory). The layer is read to its end so that a digest computed on
// r by the caller covers all of it.
func Apply(ctx context.Context, dir string, r io.Reader, opts ...ApplyOption) (int64, error) {
	o := applyOptions{opaqueKey: "trusted.overlay.opaque"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.name == "" {
		o.name = dir
	}
	if o.merged {
		return apply(ctx, dir, r, &o)
	}

	switch empty, err := isEmptyDir(dir); {
	case err == nil && !empty:
		return 0, errdefs.AlreadyExists("layer %s: apply: %s is not empty", o.name, dir)
	case err != nil && !isNotExist(err):
		return 0, fmt.Errorf("layer %s: apply: %w", o.name, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".apply-")
	if err != nil {
		return 0, fmt.Errorf("layer %s: apply: %w", o.name, err)
	}
	// MkdirTemp makes 0700; a layer without a "./" entry gets tar's default.
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return 0, fmt.Errorf("layer %s: apply: %w", o.name, err)
	}
	size, err := apply(ctx, tmp, r, &o)
	if err == nil {
		// rename(2) replaces an empty directory atomically, so dir goes from
		// absent (or empty) to complete in one step.
		// (os.Rename refuses an existing directory as its target.)
		if err = unix.Rename(tmp, dir); err != nil {
			err = fmt.Errorf("layer %s: apply: %w", o.name, &os.LinkError{Op: "rename", Old: tmp, New: dir, Err: err})
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return 0, err
	}
	return size, nil
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

type dirTimes struct {
	name         string
	atime, mtime unix.Timespec
}

type applier struct {
	ctx     context.Context
	o       *applyOptions
	root    *root
	buf     []byte
	size    int64
	dirs    []dirTimes
	created map[string]bool // WithMerged: what this layer put in the tree
	dirty   bool            // an entry was removed: the parent cache is stale
	lowers  []int           // WithParentLayers: O_PATH descriptors, nearest first

	// Owner of the directories a layer does not list but needs (tar makes
	// them as the extracting user: root, or root of the user namespace).
	rootUID, rootGID int
}

func apply(ctx context.Context, dir string, r io.Reader, o *applyOptions) (int64, error) {
	rd, done, err := decompress(r)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", o.name, err)
	}
	defer done()
	rt, err := openRoot(dir)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", o.name, err)
	}
	defer rt.close()
	a := &applier{ctx: ctx, o: o, root: rt, buf: getBuf()}
	defer putBuf(a.buf)
	if o.merged {
		a.created = map[string]bool{}
	}
	if a.rootUID, err = toHost(o.uids, 0, "uid"); err != nil {
		a.rootUID = os.Getuid()
	}
	if a.rootGID, err = toHost(o.gids, 0, "gid"); err != nil {
		a.rootGID = os.Getgid()
	}
	if !o.merged && len(o.parents) > 0 {
		defer a.closeLowers()
		if err := a.openLowers(); err != nil {
			return 0, fmt.Errorf("layer %s: %w", o.name, err)
		}
		// The root as the lowers show it, unless the layer lists "./".
		if err := a.copyLowerDir(rt.fd, ".", "."); err != nil {
			return 0, fmt.Errorf("layer %s: layer root: %w", o.name, err)
		}
	}

	tr := tar.NewReader(rd)
	for {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("layer %s: %w", o.name, err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, errdefs.InvalidArgument("layer %s: read tar: %v", o.name, err)
		}
		rt.trim()
		if err := a.entry(hdr, tr); err != nil {
			return 0, fmt.Errorf("layer %s: entry %q: %w", o.name, hdr.Name, err)
		}
		if a.dirty {
			rt.flush()
			a.dirty = false
		}
	}
	// Directories last: creating their contents changed their mtimes.
	for _, d := range a.dirs {
		pdir, base := split(d.name)
		pfd, err := rt.resolve(pdir)
		if err == nil {
			err = unix.UtimesNanoAt(pfd, base, []unix.Timespec{d.atime, d.mtime}, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil && !isNotExist(err) {
			return 0, fmt.Errorf("layer %s: entry %q: set times: %w", o.name, d.name, err)
		}
	}
	// Read what follows the end-of-archive blocks (padding, the gzip
	// trailer with its CRC) so that the caller's digest sees every byte.
	if _, err := io.CopyBuffer(io.Discard, rd, a.buf); err != nil {
		return 0, errdefs.InvalidArgument("layer %s: read: %v", o.name, err)
	}
	return a.size, nil
}

// split cuts a cleaned name into its parent and last component; the root is
// its own parent, named "." in it.
func split(name string) (string, string) {
	if name == "." {
		return ".", "."
	}
	dir, base := path.Split(name)
	return cleanDir(dir), base
}

func (a *applier) entry(hdr *tar.Header, content io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := split(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(dir, base)
	}
	uid, err := toHost(a.o.uids, hdr.Uid, "uid")
	if err != nil {
		return err
	}
	gid, err := toHost(a.o.gids, hdr.Gid, "gid")
	if err != nil {
		return err
	}
	if name == "." && hdr.Typeflag != tar.TypeDir {
		return errdefs.InvalidArgument("the layer root can only be a directory")
	}
	if a.created != nil {
		a.created[name] = true
	}
	pfd, err := a.root.mkdirAll(dir, a.mkParent)
	if err != nil {
		return fmt.Errorf("parent directory: %w", err)
	}

	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.dir(pfd, base, name, hdr, uid, gid, mode)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		return a.file(pfd, base, hdr, content, uid, gid, mode)
	case tar.TypeLink:
		return a.hardlink(pfd, base, hdr.Linkname)
	case tar.TypeSymlink:
		if hdr.Linkname == "" {
			return errdefs.InvalidArgument("symlink with an empty target")
		}
		// The target is stored as given: it is only ever resolved inside
		// the root, by the kernel in the container and by resolve here.
		err = a.create(pfd, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) })
		if err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		err = a.create(pfd, base, func() error { return unix.Mknodat(pfd, base, kind|mode, dev) })
		if err == unix.EPERM && hdr.Typeflag != tar.TypeFifo && inUserNS() {
			// A user namespace may not make device nodes (CAP_MKNOD is
			// checked against the initial namespace); rootless engines
			// skip them and bind-mount /dev at run time instead.
			return nil
		}
		if err != nil {
			return fmt.Errorf("mknod: %w", err)
		}
	default:
		return errdefs.InvalidArgument("unsupported tar entry type %q", hdr.Typeflag)
	}
	return a.meta(pfd, base, hdr, uid, gid, mode, hdr.Typeflag != tar.TypeSymlink)
}

// create runs mk, which makes base under pfd, replacing whatever was there
// (tar semantics: a later entry of the same name wins).
func (a *applier) create(pfd int, base string, mk func() error) error {
	err := mk()
	if err != unix.EEXIST {
		return err
	}
	if base == "." {
		return errdefs.InvalidArgument("the layer root can only be a directory")
	}
	if err := removeAt(pfd, base); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	a.dirty = true
	return mk()
}

func (a *applier) dir(pfd int, base, name string, hdr *tar.Header, uid, gid int, mode uint32) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		// An existing directory is kept with its contents; only its
		// metadata is taken from the entry.
	case err == nil || err == unix.ENOENT:
		wasWhiteout := err == nil && isWhiteout(&st)
		if err == nil {
			if err := removeAt(pfd, base); err != nil {
				return fmt.Errorf("replace: %w", err)
			}
			a.dirty = true
		}
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
		if wasWhiteout && !a.o.merged {
			// .wh.NAME then NAME/ in one layer: the lower NAME is gone and
			// a new directory takes its place, which overlayfs spells as
			// an opaque directory.
			if err := unix.Lsetxattr(procPath(pfd, base), a.o.opaqueKey, []byte("y"), 0); err != nil {
				return fmt.Errorf("set opaque: %w", err)
			}
		}
	default:
		return fmt.Errorf("stat: %w", err)
	}
	if err := a.meta(pfd, base, hdr, uid, gid, mode, true); err != nil {
		return err
	}
	a.dirs = append(a.dirs, dirTimes{name: name, atime: atime(hdr), mtime: timespec(hdr.ModTime)})
	return nil
}

func (a *applier) file(pfd int, base string, hdr *tar.Header, content io.Reader, uid, gid int, mode uint32) error {
	var fd int
	err := a.create(pfd, base, func() (err error) {
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer unix.Close(fd)
	if err := a.copyFile(fd, content, hdr.Size); err != nil {
		return err
	}
	a.size += hdr.Size
	// Owner, then mode, then xattrs: chown(2) clears setuid/setgid and
	// security.capability, and a write clears security.capability too.
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	for k, v := range xattrs(hdr) {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			return fmt.Errorf("set xattr %s: %w", k, err)
		}
	}
	ts := []unix.Timespec{atime(hdr), timespec(hdr.ModTime)}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// holeBlock is the unit below which zeros are written rather than skipped:
// large enough not to fragment ordinary binaries, small enough to keep
// sparse files (lastlog, preallocated databases) sparse.
const holeBlock = 64 << 10

var zeros = make([]byte, holeBlock)

// copyFile writes size bytes of r to fd. Go's tar reader expands sparse
// entries into zeros; aligned runs of zeros become holes again, so a sparse
// file stays sparse whichever way the layer stored it.
func (a *applier) copyFile(fd int, r io.Reader, size int64) error {
	var off int64
	hole := false
	for i := 0; off < size; i++ {
		// A sparse entry of a few bytes can claim terabytes of zeros: let
		// the caller's deadline stop it in the middle of one file.
		if i%256 == 255 {
			if err := a.ctx.Err(); err != nil {
				return err
			}
		}
		n, err := io.ReadFull(r, a.buf[:min(int64(len(a.buf)), size-off)])
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return errdefs.InvalidArgument("read content: %v", err)
		}
		chunk := a.buf[:n]
		for len(chunk) > 0 {
			// Write the run of blocks up to the next all-zero block.
			i := 0
			for i < len(chunk) {
				end := min(i+holeBlock, len(chunk))
				if end-i == holeBlock && bytes.Equal(chunk[i:end], zeros) {
					break
				}
				i = end
			}
			if i > 0 {
				if err := pwriteFull(fd, chunk[:i], off); err != nil {
					return fmt.Errorf("write: %w", err)
				}
				off += int64(i)
				chunk = chunk[i:]
				hole = false
			}
			if len(chunk) > 0 {
				// chunk starts with a zero block: skip it.
				off += holeBlock
				chunk = chunk[holeBlock:]
				hole = true
			}
		}
	}
	if hole {
		if err := unix.Ftruncate(fd, size); err != nil {
			return fmt.Errorf("truncate: %w", err)
		}
	}
	return nil
}

func pwriteFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

func (a *applier) hardlink(pfd int, base, linkname string) error {
	target, err := cleanName(linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", linkname, err)
	}
	if target == "." {
		return errdefs.InvalidArgument("hardlink to the layer root")
	}
	tdir, tbase := split(target)
	tfd, err := a.root.resolve(tdir)
	if err == nil {
		// Without AT_SYMLINK_FOLLOW linkat(2) links tbase itself, even when
		// it is a symlink, so a link cannot reach a file outside the root
		// through a symlink either.
		err = a.create(pfd, base, func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) })
	}
	switch {
	case err == nil:
		return nil
	case err == unix.ENOENT || err == unix.ENOTDIR:
		return errdefs.InvalidArgument("hardlink target %q not found in the layer", linkname)
	case err == unix.EPERM:
		return errdefs.InvalidArgument("hardlink target %q is a directory", linkname)
	default:
		return fmt.Errorf("hardlink to %q: %w", linkname, err)
	}
}

// meta sets owner, mode, xattrs and times of base under pfd, never following
// it if it is a symlink. Directories get their times at the end.
func (a *applier) meta(pfd int, base string, hdr *tar.Header, uid, gid int, mode uint32, chmod bool) error {
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if chmod {
		// fchmodat2(2) (Linux 6.6) with AT_SYMLINK_NOFOLLOW; before it,
		// plain fchmodat is as safe here: base was just made by this entry
		// and is not a symlink.
		err := unix.Fchmodat(pfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
			err = unix.Fchmodat(pfd, base, mode, 0)
		}
		if err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	for k, v := range xattrs(hdr) {
		if err := unix.Lsetxattr(procPath(pfd, base), k, []byte(v), 0); err != nil {
			return fmt.Errorf("set xattr %s: %w", k, err)
		}
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil
	}
	ts := []unix.Timespec{atime(hdr), timespec(hdr.ModTime)}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func (a *applier) whiteout(dir, base string) error {
	if base == whiteoutOpaque {
		return a.opaque(dir)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return errdefs.InvalidArgument("whiteout of %q", name)
	}
	full := path.Join(dir, name)
	if a.o.merged {
		// Whiteouts apply to lower layers only (image-spec layer.md): what
		// this layer made stays.
		if a.created[full] {
			return nil
		}
		pfd, err := a.root.resolve(dir)
		if err == unix.ENOENT || err == unix.ENOTDIR {
			return nil
		}
		if err == nil {
			err = removeAt(pfd, name)
		}
		if err != nil {
			return fmt.Errorf("remove %s: %w", full, err)
		}
		a.dirty = true
		return nil
	}
	pfd, err := a.root.mkdirAll(dir, a.mkParent)
	if err != nil {
		return fmt.Errorf("parent directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		// The layer's own NAME already hides the lower one.
		return nil
	}
	// overlayfs's whiteout: a character device 0/0 (Documentation/
	// filesystems/overlayfs.rst, "whiteouts and opaque directories").
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("mknod whiteout: %w", err)
	}
	return nil
}

func (a *applier) opaque(dir string) error {
	if !a.o.merged {
		fd, err := a.root.mkdirAll(dir, a.mkParent)
		if err != nil {
			return fmt.Errorf("parent directory: %w", err)
		}
		if err := unix.Lsetxattr(procPath(fd, "."), a.o.opaqueKey, []byte("y"), 0); err != nil {
			return fmt.Errorf("set opaque: %w", err)
		}
		return nil
	}
	fd, err := a.root.resolve(dir)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opaque %s: %w", dir, err)
	}
	// Empty the directory of what lower layers put there, keeping what
	// this layer made (also below a directory it shares with them).
	var keep func(prefix string) func(string, int) (bool, error)
	keep = func(prefix string) func(string, int) (bool, error) {
		return func(child string, dirfd int) (bool, error) {
			p := path.Join(prefix, child)
			if !a.created[p] {
				return false, nil
			}
			var st unix.Stat_t
			if err := unix.Fstatat(dirfd, child, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return false, err
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				return true, emptyDirAt(dirfd, child, keep(p))
			}
			return true, nil
		}
	}
	a.dirty = true
	if err := emptyDirAt(fd, ".", keep(dir)); err != nil {
		return fmt.Errorf("opaque %s: %w", dir, err)
	}
	return nil
}

// xattrs yields the extended attributes of an entry, leaving out overlayfs's
// own: a layer that carried trusted.overlay.redirect, .metacopy or .origin
// could make overlayfs serve files of another layer, so only Apply itself
// writes overlay xattrs (the opaque marker).
func xattrs(hdr *tar.Header) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		for k, v := range hdr.PAXRecords {
			name, ok := strings.CutPrefix(k, xattrPrefix)
			if !ok || isOverlayXattr(name) {
				continue
			}
			if !yield(name, v) {
				return
			}
		}
	}
}

func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func atime(hdr *tar.Header) unix.Timespec {
	if hdr.AccessTime.IsZero() {
		return timespec(hdr.ModTime)
	}
	return timespec(hdr.AccessTime)
}

var inUserNS = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
})

var bufPool = sync.Pool{New: func() any { return make([]byte, 1<<20) }}

func getBuf() []byte  { return bufPool.Get().([]byte) }
func putBuf(b []byte) { bufPool.Put(b) } //nolint:staticcheck // a slice header per Apply is fine
