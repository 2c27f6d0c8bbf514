package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestApplyParentLayers: a directory the layer needs but does not list is
// made as the nearest lower shows it (mode, owner, xattrs but overlay's,
// times), unless a lower hides it; without a lower it is 0755 root:root.
func TestApplyParentLayers(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	base := t.TempDir()
	l1, l2 := filepath.Join(base, "l1"), filepath.Join(base, "l2")
	mkdir := func(p string, mode os.FileMode, uid, gid int) {
		t.Helper()
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	setx := func(p, k, v string) {
		t.Helper()
		if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	// l1, the nearest lower.
	mkdir(l1, 0o750, 0, 0)
	mkdir(filepath.Join(l1, "d"), 0o750, 1000, 1000)
	setx(filepath.Join(l1, "d"), "user.test", "lower")
	setx(filepath.Join(l1, "d"), "trusted.overlay.opaque", "y")
	mtime := time.Date(2021, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(l1, "d"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	mkdir(filepath.Join(l1, "near"), 0o700, 2000, 2000)
	if err := unix.Mknod(filepath.Join(l1, "gone"), unix.S_IFCHR, 0); err != nil { // whiteout
		t.Fatal(err)
	}
	mkdir(filepath.Join(l1, "opq"), 0o755, 0, 0)
	setx(filepath.Join(l1, "opq"), "trusted.overlay.opaque", "y")
	if err := os.Symlink("../outside", filepath.Join(l1, "esc")); err != nil {
		t.Fatal(err)
	}
	// l2, below it.
	mkdir(l2, 0o755, 0, 0)
	mkdir(filepath.Join(l2, "near"), 0o750, 3000, 3000)
	mkdir(filepath.Join(l2, "far"), 0o710, 4000, 4000)
	mkdir(filepath.Join(l2, "gone"), 0o700, 5000, 5000)
	mkdir(filepath.Join(l2, "opq/p"), 0o700, 6000, 6000)
	mkdir(filepath.Join(l2, "listed"), 0o700, 7000, 7000)
	// Beside the lowers, reachable only through l1's symlink.
	mkdir(filepath.Join(base, "outside/q"), 0o700, 4242, 4242)

	listed := dirE("listed/")
	listed.hdr.Mode = 0o711
	layer := buildTar(t,
		reg("d/y", "y"),
		reg("near/y", "y"),
		reg("far/y", "y"),
		reg("gone/y", "y"),
		reg("opq/p/y", "y"),
		reg("esc/q/y", "y"),
		reg("none/sub/y", "y"),
		reg("listed/y", "y"),
		listed,
	)
	dst := filepath.Join(base, "dst")
	if _, err := Apply(ctx, dst, bytes.NewReader(layer), WithParentLayers(l1, l2)); err != nil {
		t.Fatal(err)
	}
	got := scan(t, dst)
	for name, want := range map[string]struct {
		mode     uint32
		uid, gid uint32
	}{
		"d":        {0o750, 1000, 1000}, // from l1
		"near":     {0o700, 2000, 2000}, // l1 before l2
		"far":      {0o710, 4000, 4000}, // only l2
		"gone":     {0o755, 0, 0},       // l1's whiteout hides l2's
		"opq":      {0o755, 0, 0},       // l1's
		"opq/p":    {0o755, 0, 0},       // l1's opaque opq hides l2's opq/p
		"esc":      {0o755, 0, 0},       // a symlink in l1: not followed
		"esc/q":    {0o755, 0, 0},       // never outside/q
		"none":     {0o755, 0, 0},
		"none/sub": {0o755, 0, 0},
		"listed":   {0o711, 0, 0}, // the layer's own entry wins
	} {
		n := got[name]
		if n.Type != "dir" || n.Mode != want.mode || n.UID != want.uid || n.GID != want.gid {
			t.Errorf("%s: %s %o %d:%d, want dir %o %d:%d", name, n.Type, n.Mode, n.UID, n.GID, want.mode, want.uid, want.gid)
		}
	}
	if v, err := lgetxattr(filepath.Join(dst, "d"), "user.test"); err != nil || string(v) != "lower" {
		t.Errorf("d: user.test = %q, %v", v, err)
	}
	if _, err := lgetxattr(filepath.Join(dst, "d"), "trusted.overlay.opaque"); err != unix.ENODATA {
		t.Errorf("d: overlay's opaque xattr copied from the lower: %v", err)
	}
	if got["d"].Mtime != mtime.Unix() {
		t.Errorf("d: mtime %d, want the lower's %d", got["d"].Mtime, mtime.Unix())
	}
	// The root, which the layer does not list, is the nearest lower's.
	var st unix.Stat_t
	if err := unix.Lstat(dst, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o750 {
		t.Errorf("root: mode %o, want l1's 750", st.Mode&0o7777)
	}
	// Nothing changed in the lowers or beside them.
	if n := scan(t, filepath.Join(base, "outside")); len(n) != 1 || n["q"].Mode != 0o700 {
		t.Errorf("outside: %+v", n)
	}

	// Without the option: tar's defaults.
	dst2 := filepath.Join(base, "dst2")
	if _, err := Apply(ctx, dst2, bytes.NewReader(buildTar(t, reg("d/y", "y")))); err != nil {
		t.Fatal(err)
	}
	if n := scan(t, dst2)["d"]; n.Mode != 0o755 || n.UID != 0 || n.GID != 0 {
		t.Errorf("no parents: d %o %d:%d", n.Mode, n.UID, n.GID)
	}

	// A "./" entry and an opaque directory of the layer itself.
	root := dirE("./")
	root.hdr.Mode = 0o755
	opq := entry{hdr: tar.Header{Name: "near/.wh..wh..opq", Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}}
	mkdir(filepath.Join(l1, "near/far"), 0o700, 8000, 8000)
	dst3 := filepath.Join(base, "dst3")
	if _, err := Apply(ctx, dst3, bytes.NewReader(buildTar(t, root, opq, reg("near/far/y", "y"))), WithParentLayers(l1, l2)); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(dst3, &st); err != nil || st.Mode&0o7777 != 0o755 {
		t.Errorf("root with its own entry: %o, %v", st.Mode&0o7777, err)
	}
	got = scan(t, dst3)
	if n := got["near"]; n.Mode != 0o700 || n.UID != 2000 {
		t.Errorf("near: %o %d", n.Mode, n.UID)
	}
	if n := got["near/far"]; n.Mode != 0o755 || n.UID != 0 {
		t.Errorf("near/far below the layer's opaque near: %o %d", n.Mode, n.UID)
	}
}
