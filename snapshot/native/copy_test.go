package native

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/snapshot"
	"hutch.dev/hutch/snapshot/testsuite"
)

// TestCopyKeepsEverything: Prepare on a committed tree copies owners,
// modes with setuid, xattrs, times, hard links, symlinks, devices, fifos.
func TestCopyKeepsEverything(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	sn, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// tmpfs takes user.* xattrs since Linux 6.6 only.
	noUserXattr := false
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)
	err = snapshot.Unpack(ctx, sn, "base", "", func(dir string, _ []string) error {
		p := func(n string) string { return filepath.Join(dir, n) }
		steps := []error{
			os.Mkdir(p("d"), 0o755),
			os.WriteFile(p("d/suid"), []byte("suid"), 0o755),
			os.Lchown(p("d/suid"), 1000, 1001),
			unix.Chmod(p("d/suid"), 0o4755),
			os.Link(p("d/suid"), p("hard")),
			os.Symlink("d/suid", p("sym")),
			os.Lchown(p("sym"), 7, 8),
			unix.Mknod(p("null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))),
			unix.Mknod(p("fifo"), unix.S_IFIFO|0o600, 0),
			userXattr(p("d/suid"), &noUserXattr),
			unix.Setxattr(p("d"), "trusted.t", []byte("tv"), 0),
			os.Chown(p("d"), 5, 6),
			unix.Chmod(p("d"), 0o1777),
			os.Chtimes(p("d/suid"), mtime, mtime),
			os.Chtimes(p("d"), mtime, mtime),
		}
		for _, err := range steps {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sn.Prepare(ctx, "c", "base")
	if err != nil {
		t.Fatal(err)
	}
	root := testsuite.Mount(t, ms)
	p := func(n string) string { return filepath.Join(root, n) }
	var st, st2 unix.Stat_t
	if err := unix.Lstat(p("d/suid"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1000 || st.Gid != 1001 || st.Mode&07777 != 0o4755 || st.Nlink != 2 {
		t.Errorf("d/suid: uid %d gid %d mode %#o nlink %d", st.Uid, st.Gid, st.Mode&07777, st.Nlink)
	}
	if time.Unix(st.Mtim.Unix()).UTC() != mtime {
		t.Errorf("d/suid mtime %v", time.Unix(st.Mtim.Unix()))
	}
	unix.Lstat(p("hard"), &st2)
	if st.Ino != st2.Ino {
		t.Error("hard link lost")
	}
	if v := xattr(p("d/suid"), "user.k"); v != "v" && !noUserXattr {
		t.Errorf("user.k = %q", v)
	}
	if v := xattr(p("d"), "trusted.t"); v != "tv" {
		t.Errorf("trusted.t = %q", v)
	}
	unix.Lstat(p("d"), &st)
	if st.Uid != 5 || st.Gid != 6 || st.Mode&07777 != 0o1777 || time.Unix(st.Mtim.Unix()).UTC() != mtime {
		t.Errorf("d: uid %d gid %d mode %#o mtime %v", st.Uid, st.Gid, st.Mode&07777, time.Unix(st.Mtim.Unix()))
	}
	if l, err := os.Readlink(p("sym")); err != nil || l != "d/suid" {
		t.Errorf("sym -> %q %v", l, err)
	}
	unix.Lstat(p("sym"), &st)
	if st.Uid != 7 || st.Gid != 8 {
		t.Errorf("sym owner %d:%d", st.Uid, st.Gid)
	}
	unix.Lstat(p("null"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("null: mode %#o rdev %d", st.Mode, st.Rdev)
	}
	unix.Lstat(p("fifo"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo: mode %#o", st.Mode)
	}
	// The copy is the container's own: writing it leaves the base alone.
	os.WriteFile(p("d/suid"), []byte("changed"), 0o755)
	vs, err := sn.View(ctx, "v", "base")
	if err != nil {
		t.Fatal(err)
	}
	v := testsuite.Mount(t, vs)
	if b, _ := os.ReadFile(filepath.Join(v, "d/suid")); string(b) != "suid" {
		t.Errorf("base changed: %q", b)
	}
}

func xattr(path, name string) string {
	b := make([]byte, 64)
	n, err := unix.Lgetxattr(path, name, b)
	if err != nil {
		return err.Error()
	}
	return string(b[:n])
}

func userXattr(path string, unsupported *bool) error {
	err := unix.Setxattr(path, "user.k", []byte("v"), 0)
	if err == unix.ENOTSUP {
		*unsupported = true
		return nil
	}
	return err
}
