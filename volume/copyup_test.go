package volume

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/internal/mountinfo"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, mknod, mount)")
	}
}

// imageFixture makes an image root with /data holding every kind of
// entry, and traps: symlinks that point out of the root.
func imageFixture(t *testing.T) string {
	t.Helper()
	rootfs := t.TempDir()
	data := filepath.Join(rootfs, "data")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(data, "sub", "deep"), 0o755))
	must(os.WriteFile(filepath.Join(data, "plain"), []byte("hello"), 0o644))
	must(os.WriteFile(filepath.Join(data, "sub", "deep", "file"), bytes.Repeat([]byte("x"), 100000), 0o640))
	must(os.WriteFile(filepath.Join(data, "suid"), []byte("#!/bin/sh"), 0o755))
	must(os.Chown(filepath.Join(data, "suid"), 0, 0))
	must(os.Chmod(filepath.Join(data, "suid"), 0o4755))
	must(os.Chown(filepath.Join(data, "sub", "deep", "file"), 1000, 2000))
	must(os.Chown(filepath.Join(data, "sub"), 33, 33))
	must(os.Chmod(filepath.Join(data, "sub", "deep"), 0o555)) // read-only dir with content
	must(unix.Setxattr(filepath.Join(data, "plain"), "user.origin", []byte("image"), 0))
	// File capabilities (cap_net_bind_service=ep, v2 format): they must
	// survive the chown that clears them.
	caps := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	must(os.WriteFile(filepath.Join(data, "capped"), []byte("bin"), 0o755))
	must(unix.Setxattr(filepath.Join(data, "capped"), "security.capability", caps, 0))
	must(os.Symlink("/etc/passwd", filepath.Join(data, "abs-link")))
	must(os.Symlink("../../../../../../etc/shadow", filepath.Join(data, "rel-link")))
	must(os.Link(filepath.Join(data, "plain"), filepath.Join(data, "sub", "hardlink")))
	must(unix.Mkfifo(filepath.Join(data, "fifo"), 0o620))
	must(unix.Mknod(filepath.Join(data, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(os.Chown(data, 999, 998))
	must(os.Chmod(data, 0o1770))
	// The image's /etc, for the symlinked mount points below.
	must(os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(rootfs, "etc", "image-only"), []byte("image's /etc"), 0o644))
	must(os.Symlink("/etc", filepath.Join(rootfs, "abs-escape")))
	must(os.Symlink("../../../../../../../etc", filepath.Join(rootfs, "rel-escape")))
	return rootfs
}

func TestCopyUpKeepsEverything(t *testing.T) {
	requireRoot(t)
	rootfs := imageFixture(t)
	s, _ := newStore(t)
	v, _ := s.Create("data", CreateOptions{})
	copied, err := s.CopyUp("data", rootfs, "/data")
	if err != nil || !copied {
		t.Fatalf("CopyUp = %v, %v", copied, err)
	}
	mp := v.Mountpoint
	src := filepath.Join(rootfs, "data")

	// Every entry: same type, mode, owner, mtime; same content.
	err = filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		var a, b unix.Stat_t
		unix.Lstat(p, &a)
		if err := unix.Lstat(filepath.Join(mp, rel), &b); err != nil {
			t.Errorf("%s not copied: %v", rel, err)
			return nil
		}
		if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Rdev != b.Rdev {
			t.Errorf("%s: mode %o uid %d gid %d rdev %d, want %o %d %d %d", rel, b.Mode, b.Uid, b.Gid, b.Rdev, a.Mode, a.Uid, a.Gid, a.Rdev)
		}
		if a.Mtim != b.Mtim {
			t.Errorf("%s: mtime %v, want %v", rel, b.Mtim, a.Mtim)
		}
		if fi.Mode().IsRegular() {
			x, _ := os.ReadFile(p)
			y, _ := os.ReadFile(filepath.Join(mp, rel))
			if !bytes.Equal(x, y) {
				t.Errorf("%s: content differs", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"abs-link": "/etc/passwd", "rel-link": "../../../../../../etc/shadow"} {
		if got, err := os.Readlink(filepath.Join(mp, link)); err != nil || got != target {
			t.Errorf("%s -> %q, %v; want the link itself, %q", link, got, err, target)
		}
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(filepath.Join(mp, "plain"), "user.origin", buf); err != nil || string(buf[:n]) != "image" {
		t.Errorf("user.origin: %q, %v", buf[:n], err)
	}
	if n, err := unix.Getxattr(filepath.Join(mp, "capped"), "security.capability", buf); err != nil || n != 20 {
		t.Errorf("security.capability lost: %d, %v", n, err)
	}
	var a, b unix.Stat_t
	unix.Stat(filepath.Join(mp, "plain"), &a)
	unix.Stat(filepath.Join(mp, "sub", "hardlink"), &b)
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard link not kept: inodes %d %d, nlink %d", a.Ino, b.Ino, a.Nlink)
	}

	// A second container, or a second start, finds it filled: no copy.
	os.WriteFile(filepath.Join(mp, "plain"), []byte("changed"), 0o644)
	if copied, err := s.CopyUp("data", rootfs, "/data"); copied || err != nil {
		t.Errorf("second CopyUp = %v, %v", copied, err)
	}
	if b, _ := os.ReadFile(filepath.Join(mp, "plain")); string(b) != "changed" {
		t.Error("second CopyUp overwrote the volume")
	}
}

func TestCopyUpStaysInTheImage(t *testing.T) {
	requireRoot(t)
	rootfs := imageFixture(t)
	s, _ := newStore(t)
	// A mount point that is a symlink out of the image is resolved in the
	// image: the image's /etc is copied, never the host's.
	for _, dir := range []string{"/abs-escape", "rel-escape", "/data/../../../../etc", "/rel-escape/../../etc"} {
		name := "v" + strings.NewReplacer("/", "", ".", "", "-", "").Replace(dir)
		v, err := s.Create(name, CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		copied, err := s.CopyUp(name, rootfs, dir)
		if err != nil || !copied {
			t.Errorf("CopyUp(%q) = %v, %v", dir, copied, err)
			continue
		}
		entries, _ := os.ReadDir(v.Mountpoint)
		if len(entries) != 1 || entries[0].Name() != "image-only" {
			t.Errorf("CopyUp(%q) copied %v, want only the image's /etc", dir, entries)
		}
	}
	// A missing directory or a file is not copied, and is no error.
	s.Create("other", CreateOptions{})
	for _, dir := range []string{"/nonexistent", "/data/plain"} {
		if copied, err := s.CopyUp("other", rootfs, dir); copied || err != nil {
			t.Errorf("CopyUp(%q) = %v, %v", dir, copied, err)
		}
	}
	if _, err := s.CopyUp("missing", rootfs, "/data"); err == nil {
		t.Error("CopyUp into a missing volume")
	}
}

func TestCopyUpConcurrentCopiesOnce(t *testing.T) {
	requireRoot(t)
	rootfs := imageFixture(t)
	s, _ := newStore(t)
	s.Create("data", CreateOptions{})
	results := make(chan bool, 8)
	for range 8 {
		go func() {
			c, err := s.CopyUp("data", rootfs, "/data")
			if err != nil {
				t.Error(err)
			}
			results <- c
		}()
	}
	n := 0
	for range 8 {
		if <-results {
			n++
		}
	}
	if n != 1 {
		t.Errorf("copied %d times", n)
	}
}

func TestMountLocalDriverOptions(t *testing.T) {
	requireRoot(t)
	s, _ := newStore(t)
	v, err := s.Create("scratch", CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=0750,nosuid"}})
	if err != nil {
		t.Fatal(err)
	}
	mounted := func() bool { ok, err := mountinfo.IsMountPoint(v.Mountpoint); return err == nil && ok }
	p, err := s.Mount("scratch", "c1")
	if err != nil || p != v.Mountpoint || !mounted() {
		t.Fatalf("Mount = %q, %v (mounted %v)", p, err, mounted())
	}
	t.Cleanup(func() { unix.Unmount(v.Mountpoint, unix.MNT_DETACH) })
	var sfs unix.Statfs_t
	unix.Statfs(v.Mountpoint, &sfs)
	if sfs.Type != unix.TMPFS_MAGIC || sfs.Flags&unix.ST_NOSUID == 0 {
		t.Errorf("not a nosuid tmpfs: type %x flags %x", sfs.Type, sfs.Flags)
	}
	if _, err := s.Mount("scratch", "c2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("scratch", true); err == nil {
		t.Error("removed a mounted volume")
	}
	s.Unmount("scratch", "c1")
	if !mounted() {
		t.Error("first Unmount took the mount down while c2 uses it")
	}
	s.Unmount("scratch", "c2")
	if mounted() {
		t.Error("last Unmount left the mount")
	}
	if err := s.Unmount("scratch", "c2"); err != nil {
		t.Errorf("Unmount twice: %v", err)
	}
	if err := s.Remove("scratch", false); err != nil {
		t.Error(err)
	}

	// A monitor killed before its Unmount: removing the container
	// (ReleaseAll) takes the volume's mount down.
	v, _ = s.Create("scratch2", CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}})
	s.Acquire("scratch2", "c3")
	s.Mount("scratch2", "c3")
	t.Cleanup(func() { unix.Unmount(v.Mountpoint, unix.MNT_DETACH) })
	if !mounted() {
		t.Fatal("scratch2 not mounted")
	}
	if err := s.ReleaseAll("c3"); err != nil {
		t.Fatal(err)
	}
	if mounted() {
		t.Error("ReleaseAll left the mount")
	}
	if err := s.Remove("scratch2", false); err != nil {
		t.Error(err)
	}

	// A bind volume, read-only.
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "site"), []byte("x"), 0o644)
	b, err := s.Create("site", CreateOptions{Options: map[string]string{"type": "none", "device": host, "o": "bind,ro"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mount("site", "c1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(b.Mountpoint, unix.MNT_DETACH) })
	if _, err := os.Stat(filepath.Join(b.Mountpoint, "site")); err != nil {
		t.Error(err)
	}
	if err := os.WriteFile(filepath.Join(b.Mountpoint, "new"), nil, 0o644); err == nil {
		t.Error("read-only bind volume is writable")
	}
	// A crash left the mount up and the record empty: Remove takes the
	// mount down rather than deleting the host directory through it.
	s.mutate(t, "site", func(v *Volume) { v.MountedBy = nil })
	if err := s.Remove("site", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(host, "site")); err != nil {
		t.Errorf("Remove deleted through the bind mount: %v", err)
	}
}

// mutate edits a record as a crash would leave it.
func (s *Store) mutate(t *testing.T, name string, f func(*Volume)) {
	t.Helper()
	v, err := s.read(name)
	if err != nil {
		t.Fatal(err)
	}
	f(v)
	if err := s.write(v); err != nil {
		t.Fatal(err)
	}
}
