package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// TestRoundTrip: a tree with every kind of entry, through Tar and Apply,
// comes back the same, file by file, and tars to the same bytes.
func TestRoundTrip(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	makeTree(t, src)

	var layer bytes.Buffer
	if err := Tar(ctx, &layer, src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(base, "dst")
	size, err := Apply(ctx, dst, bytes.NewReader(layer.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if size < 8<<20 {
		t.Errorf("size = %d, want at least the 8 MiB sparse file", size)
	}
	want, got := scan(t, src), scan(t, dst)
	compareTrees(t, want, got)
	if got["bin/su"].Mode != 0o4755 || got["tmp"].Mode != 0o1777 || got["setgid"].Mode != 0o2775 {
		t.Errorf("special mode bits lost: su %o tmp %o setgid %o", got["bin/su"].Mode, got["tmp"].Mode, got["setgid"].Mode)
	}
	if got["bin/ping-hard"].Group != "bin/ping" || got["usr/ping-hard2"].Group != "bin/ping" {
		t.Errorf("hardlinks not kept: %+v", got["usr/ping-hard2"])
	}
	if c, err := lgetxattr(filepath.Join(dst, "bin/ping"), "security.capability"); err != nil || !bytes.Equal(c, capV2()) {
		t.Errorf("security.capability = %x, %v", c, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dst, "var/lastlog"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 1<<20 {
		t.Errorf("var/lastlog: %d bytes allocated for 5 bytes of data: holes not kept", st.Blocks*512)
	}

	var again bytes.Buffer
	if err := Tar(ctx, &again, dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(layer.Bytes(), again.Bytes()) {
		t.Errorf("Tar of the applied tree differs from the layer (%d vs %d bytes)", again.Len(), layer.Len())
	}
	if ents, _ := os.ReadDir(base); len(ents) != 2 {
		t.Errorf("Apply left temporary directories: %v", ents)
	}
}

// TestApplyHeaderFields: nanosecond and access times from PAX records,
// directory times set after their contents, xattrs, missing parents, a
// later entry replacing an earlier one, an owner remap.
func TestApplyHeaderFields(t *testing.T) {
	requireRoot(t)
	mt := time.Unix(1234567890, 123456789)
	at := time.Unix(1111111111, 987654321)
	d := dirE("d/")
	d.hdr.ModTime, d.hdr.AccessTime, d.hdr.Format = mt, at, tar.FormatPAX
	d.hdr.Mode = 0o700
	f := reg("d/f", "one")
	f.hdr.ModTime, f.hdr.AccessTime, f.hdr.Format = mt, at, tar.FormatPAX
	f.hdr.Uid, f.hdr.Gid = 5, 6
	f.hdr.PAXRecords = map[string]string{
		"SCHILY.xattr.user.a":                 "1",
		"SCHILY.xattr.trusted.overlay.origin": "forged",
	}
	layer := buildTar(t, d, f,
		reg("d/f2", "first"), symlink("d/f2", "f"), // replaced by a symlink
		reg("missing/parent/x", "x"),
		dirE("d/sub/"), reg("d/sub/y", "y"),
	)
	dst := filepath.Join(t.TempDir(), "l")
	if _, err := Apply(context.Background(), dst, bytes.NewReader(layer),
		WithIDMaps([]IDMap{{0, 100000, 65536}}, []IDMap{{0, 200000, 65536}})); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	for _, p := range []string{"d", "d/f"} {
		if err := unix.Lstat(filepath.Join(dst, p), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mtim.Sec != mt.Unix() || st.Mtim.Nsec != int64(mt.Nanosecond()) || st.Atim.Sec != at.Unix() || st.Atim.Nsec != int64(at.Nanosecond()) {
			t.Errorf("%s: mtime %v atime %v", p, st.Mtim, st.Atim)
		}
	}
	if err := unix.Lstat(filepath.Join(dst, "d/f"), &st); err != nil || st.Uid != 100005 || st.Gid != 200006 {
		t.Errorf("d/f owner %d:%d, want 100005:200006 (%v)", st.Uid, st.Gid, err)
	}
	if err := unix.Lstat(filepath.Join(dst, "missing/parent"), &st); err != nil || st.Mode&0o7777 != 0o755 || st.Uid != 100000 {
		t.Errorf("implicit parent: mode %o uid %d (%v)", st.Mode&0o7777, st.Uid, err)
	}
	if x := xattrString(t, filepath.Join(dst, "d/f")); x != `user.a="1"` {
		t.Errorf("xattrs of d/f = %s (overlay xattrs must be dropped)", x)
	}
	if l, err := os.Readlink(filepath.Join(dst, "d/f2")); err != nil || l != "f" {
		t.Errorf("d/f2 = %q, %v: the later symlink entry must replace the file", l, err)
	}

	// An owner outside the maps.
	_, err := Apply(context.Background(), filepath.Join(t.TempDir(), "l"), bytes.NewReader(layer),
		WithIDMaps([]IDMap{{0, 100000, 5}}, []IDMap{{0, 100000, 65536}}))
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("unmapped uid: %v", err)
	}
}

// TestCompression: gzip, zstd and plain layers give the same tree; xz is
// refused by name.
func TestCompression(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	src := t.TempDir()
	makeTree(t, src)
	var plain bytes.Buffer
	if err := Tar(ctx, &plain, src); err != nil {
		t.Fatal(err)
	}
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain.Bytes())
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(plain.Bytes())
	zw.Close()
	want := scan(t, src)
	for name, b := range map[string][]byte{"plain": plain.Bytes(), "gzip": gz.Bytes(), "zstd": zs.Bytes()} {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "l")
			r := bytes.NewReader(b)
			if _, err := Apply(ctx, dst, r); err != nil {
				t.Fatal(err)
			}
			if r.Len() != 0 {
				t.Errorf("%d bytes of the layer left unread", r.Len())
			}
			compareTrees(t, want, scan(t, dst))
		})
	}
	_, err := Apply(ctx, filepath.Join(t.TempDir(), "l"), bytes.NewReader([]byte("\xfd7zXZ\x00rest")))
	if !errdefs.IsNotImplemented(err) {
		t.Errorf("xz: %v", err)
	}
	// A truncated gzip stream fails and leaves nothing.
	parent := t.TempDir()
	_, err = Apply(ctx, filepath.Join(parent, "l"), bytes.NewReader(gz.Bytes()[:gz.Len()/2]))
	if err == nil {
		t.Error("truncated gzip layer applied")
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("failed Apply left %v", ents)
	}
}

// TestApplyTarget: dir may be missing or empty, not full; a cancelled
// context stops the Apply and leaves nothing.
func TestApplyTarget(t *testing.T) {
	requireRoot(t)
	layer := buildTar(t, reg("a", "a"))
	parent := t.TempDir()
	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o700)
	if _, err := Apply(context.Background(), empty, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(empty, "a")); err != nil || string(b) != "a" {
		t.Fatalf("a = %q, %v", b, err)
	}
	if _, err := Apply(context.Background(), empty, bytes.NewReader(layer)); !errdefs.IsAlreadyExists(err) {
		t.Errorf("apply onto a full dir: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Apply(ctx, filepath.Join(parent, "c"), bytes.NewReader(layer)); err == nil {
		t.Error("cancelled Apply succeeded")
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}
