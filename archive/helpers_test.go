package archive

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (device nodes, owners, trusted xattrs)")
	}
}

// entry is one tar header plus its content, for layers built in tests.
type entry struct {
	hdr  tar.Header
	body string
}

func reg(name, body string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}, body: body}
}

func dirE(name string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(1700000000, 0)}}
}

func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777, ModTime: time.Unix(1700000000, 0)}}
}

func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, ModTime: time.Unix(1700000000, 0)}}
}

func buildTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write header %s: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// node is what the tests compare of one path.
type node struct {
	Type   string
	Mode   uint32
	UID    uint32
	GID    uint32
	Size   int64
	Rdev   uint64
	Mtime  int64 // seconds: Tar cuts mtimes to seconds
	Sum    string
	Link   string
	Xattrs string
	Group  string // first path with the same inode, for hardlinks
}

// scan records every path under dir (not dir itself).
func scan(t testing.TB, dir string) map[string]node {
	t.Helper()
	out := map[string]node{}
	inodes := map[[2]uint64]string{}
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		n := node{Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid, Mtime: st.Mtim.Sec}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			n.Type = "dir"
		case unix.S_IFREG:
			n.Type = "file"
			n.Size = st.Size
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s := sha256.Sum256(b)
			n.Sum = hex.EncodeToString(s[:8])
		case unix.S_IFLNK:
			n.Type = "symlink"
			n.Mode = 0
			n.Link, _ = os.Readlink(p)
		case unix.S_IFCHR:
			n.Type, n.Rdev = "char", st.Rdev
		case unix.S_IFBLK:
			n.Type, n.Rdev = "block", st.Rdev
		case unix.S_IFIFO:
			n.Type = "fifo"
		}
		if st.Nlink > 1 && n.Type != "dir" {
			k := [2]uint64{st.Dev, st.Ino}
			if first, ok := inodes[k]; ok {
				n.Group = first
			} else {
				inodes[k] = rel
				n.Group = rel
			}
		}
		n.Xattrs = xattrString(t, p)
		out[rel] = n
	}
	return out
}

func xattrString(t testing.TB, p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var kv []string
	for _, k := range strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00") {
		if k == "security.selinux" {
			continue
		}
		v, err := lgetxattr(p, k)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", p, k, err)
		}
		kv = append(kv, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func compareTrees(t testing.TB, want, got map[string]node) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing", p)
			continue
		}
		if w != g {
			t.Errorf("%s:\n want %+v\n  got %+v", p, w, g)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected", p)
		}
	}
}

// capV2 is a security.capability value (VFS_CAP_REVISION_2 with the
// effective flag) granting CAP_NET_RAW (13), as setcap cap_net_raw+ep writes.
func capV2() []byte {
	b := make([]byte, 20)
	le := func(off int, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	le(0, 0x02000000|1)
	le(4, 1<<13)
	return b
}

// makeTree fills dir with one of every kind of entry Apply and Tar handle.
func makeTree(t testing.TB, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	w := func(name, body string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(body), mode))
		must(os.Chmod(p, mode))
	}
	w("etc/hostname", "box\n", 0o644)
	w("bin/su", "#!/bin/sh\n", 0o755)
	must(unix.Chmod(filepath.Join(dir, "bin/su"), 0o4755))
	w("bin/ping", "ping binary", 0o755)
	must(unix.Lsetxattr(filepath.Join(dir, "bin/ping"), "security.capability", capV2(), 0))
	w("usr/share/doc/a", strings.Repeat("doc ", 3000), 0o600)
	must(unix.Lsetxattr(filepath.Join(dir, "usr/share/doc/a"), "user.note", []byte("hello\x00binary"), 0))
	w("usr/share/doc/empty", "", 0o644)
	long := strings.Repeat("long-directory-name/", 8) + strings.Repeat("f", 120)
	w(long, "deep", 0o640)
	must(os.Mkdir(filepath.Join(dir, "tmp"), 0o777))
	must(unix.Chmod(filepath.Join(dir, "tmp"), 0o1777))
	must(os.Mkdir(filepath.Join(dir, "home"), 0o750))
	must(os.Chown(filepath.Join(dir, "home"), 1000, 1001))
	w("home/user/file", "owned", 0o640)
	must(os.Chown(filepath.Join(dir, "home/user"), 1000, 1001))
	must(os.Chown(filepath.Join(dir, "home/user/file"), 100000, 100000))
	w("setgid/x", "x", 0o644)
	must(unix.Chmod(filepath.Join(dir, "setgid"), 0o2775))
	must(os.Symlink("../etc/hostname", filepath.Join(dir, "bin/rel")))
	must(os.Symlink("/etc/hostname", filepath.Join(dir, "bin/abs")))
	must(os.Symlink("/nowhere", filepath.Join(dir, "bin/dangling")))
	must(unix.Lchown(filepath.Join(dir, "bin/abs"), 7, 8))
	must(os.Link(filepath.Join(dir, "bin/ping"), filepath.Join(dir, "bin/ping-hard")))
	must(os.Link(filepath.Join(dir, "bin/ping"), filepath.Join(dir, "usr/ping-hard2")))
	must(os.Mkdir(filepath.Join(dir, "dev"), 0o755))
	must(unix.Mknod(filepath.Join(dir, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(dir, "dev/loop0"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 0))))
	must(unix.Mknod(filepath.Join(dir, "dev/fifo"), unix.S_IFIFO|0o620, 0))
	must(os.Chmod(filepath.Join(dir, "dev/null"), 0o666))
	// A sparse file: 8 MiB with 5 bytes of data in the middle.
	f, err := os.Create(filepath.Join(dir, "var/lastlog"))
	if os.IsNotExist(err) {
		must(os.MkdirAll(filepath.Join(dir, "var"), 0o755))
		f, err = os.Create(filepath.Join(dir, "var/lastlog"))
	}
	must(err)
	_, err = f.WriteAt([]byte("entry"), 4<<20)
	must(err)
	must(f.Truncate(8 << 20))
	must(f.Close())
	// Times last, deepest first, so that directories keep theirs.
	var paths []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	for i := len(paths) - 1; i > 0; i-- {
		ts := []unix.Timespec{{Sec: 1600000000 + int64(i), Nsec: 0}, {Sec: 1500000000 + int64(i), Nsec: 0}}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}
