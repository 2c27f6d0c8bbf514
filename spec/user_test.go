package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:2:2:daemon:/sbin:/sbin/nologin
app:x:1000:1000:app:/home/app:/bin/sh
nohome:x:1001:1001:::/bin/sh
dup:x:1002:1002::/first:/bin/sh
dup:x:1003:1003::/second:/bin/sh
nobody:x:65534:65534:nobody:/:/sbin/nologin
`

const testGroup = `root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
# a comment:x:3:app
wheel:x:10:root,app
app:x:1000:
video:x:44:app
video2:x:44:
nogroup:x:65533:
nobody:x:65534:
`

// fakeRoot makes a rootfs two levels below a temp dir (so that ../../..
// from its /etc leaves it) with the given files; a value starting with
// "->" makes a symlink.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	rootfs := filepath.Join(t.TempDir(), "a", "b", "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(rootfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return rootfs
}

// outside is the temp dir that holds the rootfs: where an escaping
// symlink would land.
func outside(rootfs string) string { return filepath.Dir(filepath.Dir(filepath.Dir(rootfs))) }

func TestResolveUser(t *testing.T) {
	rootfs := fakeRoot(t, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup})
	for _, tc := range []struct {
		user     string
		groupAdd []string
		uid, gid uint32
		gids     []uint32
		home     string
	}{
		// Docker: no user is root, with root's groups from /etc/group.
		{"", nil, 0, 0, []uint32{0, 1, 2, 10}, "/root"},
		{"root", nil, 0, 0, []uint32{0, 1, 2, 10}, "/root"},
		{"0", nil, 0, 0, []uint32{0, 1, 2, 10}, "/root"},
		{"app", nil, 1000, 1000, []uint32{1000, 10, 44}, "/home/app"},
		{"1000", nil, 1000, 1000, []uint32{1000, 10, 44}, "/home/app"},
		// An explicit group replaces the primary one and drops the
		// supplementary ones.
		{"app:video", nil, 1000, 44, []uint32{44}, "/home/app"},
		{"app:44", nil, 1000, 44, []uint32{44}, "/home/app"},
		{"app:5000", nil, 1000, 5000, []uint32{5000}, "/home/app"},
		{"1000:wheel", nil, 1000, 10, []uint32{10}, "/home/app"},
		// Numeric ids need no entry: gid 0 and home / then.
		{"1234", nil, 1234, 0, []uint32{0}, "/"},
		{"1234:1234", nil, 1234, 1234, []uint32{1234}, "/"},
		{"1234:video", nil, 1234, 44, []uint32{44}, "/"},
		{"nohome", nil, 1001, 1001, []uint32{1001}, "/"},
		// The first matching line wins.
		{"dup", nil, 1002, 1002, []uint32{1002}, "/first"},
		{"app", []string{"video", "1234", "root", "app"}, 1000, 1000, []uint32{1000, 10, 44, 1234, 0}, "/home/app"},
		{"app:junk:more", nil, 0, 0, nil, ""}, // error below: group "junk"
	} {
		u, home, err := ResolveUser(rootfs, tc.user, tc.groupAdd...)
		if tc.user == "app:junk:more" {
			if err == nil || !strings.Contains(err.Error(), `no such group "junk"`) {
				t.Errorf("%q: err = %v, want no such group junk", tc.user, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q %v: %v", tc.user, tc.groupAdd, err)
			continue
		}
		if u.UID != tc.uid || u.GID != tc.gid || !slices.Equal(u.AdditionalGids, tc.gids) || home != tc.home {
			t.Errorf("%q %v: got %d:%d %v home %q, want %d:%d %v home %q", tc.user, tc.groupAdd,
				u.UID, u.GID, u.AdditionalGids, home, tc.uid, tc.gid, tc.gids, tc.home)
		}
	}
}

func TestResolveUserErrors(t *testing.T) {
	rootfs := fakeRoot(t, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup})
	for _, tc := range []struct {
		user     string
		groupAdd []string
		want     string
	}{
		{"nobody2", nil, `spec: --user "nobody2": no such user in the image's /etc/passwd`},
		{"app:nogrp", nil, `spec: --user "app:nogrp": no such group "nogrp" in the image's /etc/group`},
		{"-1", nil, `spec: --user "-1": uids and gids must be in range 0-2147483647`},
		{"99999999999999999999", nil, `spec: --user "99999999999999999999": uids and gids must be in range 0-2147483647`},
		{"app:2147483648", nil, `spec: --user "app:2147483648": uids and gids must be in range 0-2147483647`},
		{"app", []string{"nosuch"}, `spec: --group-add "nosuch": no such group in the image's /etc/group`},
		// Comments are not groups.
		{"app", []string{"# a comment"}, `spec: --group-add "# a comment": no such group in the image's /etc/group`},
	} {
		_, _, err := ResolveUser(rootfs, tc.user, tc.groupAdd...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q %v: err = %v, want %s", tc.user, tc.groupAdd, err, tc.want)
		} else if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v is not InvalidArgument", tc.user, err)
		}
	}
}

func TestResolveUserNoFiles(t *testing.T) {
	rootfs := fakeRoot(t, nil)
	u, home, err := ResolveUser(rootfs, "")
	if err != nil || u.UID != 0 || u.GID != 0 || !slices.Equal(u.AdditionalGids, []uint32{0}) || home != "/" {
		t.Errorf("root without passwd: %+v %q %v", u, home, err)
	}
	if u, _, err := ResolveUser(rootfs, "1000:1000"); err != nil || u.UID != 1000 || u.GID != 1000 {
		t.Errorf("1000:1000 without passwd: %+v %v", u, err)
	}
	_, _, err = ResolveUser(rootfs, "app")
	if err == nil || err.Error() != `spec: --user "app": no such user: the image has no /etc/passwd` {
		t.Errorf("app without passwd: %v", err)
	}
	_, _, err = ResolveUser(rootfs, "0:staff")
	if err == nil || err.Error() != `spec: --user "0:staff": no such group: the image has no /etc/group` {
		t.Errorf("0:staff without group: %v", err)
	}
	// No rootfs at all: numbers only.
	if u, _, err := ResolveUser("", "5:6"); err != nil || u.UID != 5 || u.GID != 6 {
		t.Errorf("no rootfs: %+v %v", u, err)
	}
}

// An image's /etc/passwd that points out of the rootfs is read as the
// container would read it: inside the root, never the host's file.
func TestResolveUserSymlinkStaysInRoot(t *testing.T) {
	rootfs := fakeRoot(t, map[string]string{
		"etc/passwd": "->../../../../host-file",
		"etc/group":  "->/../../../../host-group",
	})
	host := outside(rootfs)
	if err := os.WriteFile(filepath.Join(host, "host-file"), []byte("evil:x:0:0::/evil:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "host-group"), []byte("evilgroup:x:0:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Followed on the host, the link would reach host-file.
	if b, err := os.ReadFile(filepath.Join(rootfs, "etc/passwd")); err != nil || !strings.HasPrefix(string(b), "evil") {
		t.Fatalf("test setup: the link does not escape on the host: %q %v", b, err)
	}
	if _, _, err := ResolveUser(rootfs, "evil"); err == nil || !strings.Contains(err.Error(), "no /etc/passwd") {
		t.Errorf("evil: err = %v, want no /etc/passwd (the link resolves to the missing /host-file of the root)", err)
	}
	if _, _, err := ResolveUser(rootfs, "0:evilgroup"); err == nil {
		t.Error("0:evilgroup resolved through the host's file")
	}
	// The same link's target inside the root is what is read.
	if err := os.WriteFile(filepath.Join(rootfs, "host-file"), []byte("inside:x:7:8::/in:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u, home, err := ResolveUser(rootfs, "inside")
	if err != nil || u.UID != 7 || u.GID != 8 || home != "/in" {
		t.Errorf("inside: %+v %q %v", u, home, err)
	}
}

// A FIFO or a device node at /etc/passwd is refused without being opened
// for reading (which would block, or run a driver).
func TestResolveUserNotRegular(t *testing.T) {
	rootfs := fakeRoot(t, nil)
	if err := unix.Mkfifo(filepath.Join(rootfs, "etc/passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := ResolveUser(rootfs, "app"); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("fifo passwd: err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ResolveUser blocked on a FIFO /etc/passwd")
	}
}

func TestMkdirAllInRoot(t *testing.T) {
	rootfs := fakeRoot(t, map[string]string{
		"out":      "->../../../outside",           // relative, climbing out
		"abs":      "->/",                          // absolute
		"dangling": "->/made/by/link",              // target missing
		"loop":     "->loop",                       // itself
		"file":     "x",                            // not a directory
		"rel/up":   "->../../../../../../rel-made", // relative, dangling, climbing
	})
	host := outside(rootfs)
	if err := os.Mkdir(filepath.Join(host, "outside"), 0o755); err != nil {
		t.Fatal(err)
	}
	rootfd, err := openRoot(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFd(rootfd)

	for _, tc := range []struct{ path, wantIn string }{
		{"/app/data", "app/data"},
		{"/out/sub", "outside/sub"}, // .. stops at the root
		{"/abs/etc/x", "etc/x"},
		{"/dangling/more", "made/by/link/more"},
		{"/rel/up/x", "rel-made/x"},
		{"/etc", "etc"}, // exists
	} {
		if err := mkdirAllInRoot(rootfd, tc.path); err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if fi, err := os.Stat(filepath.Join(rootfs, tc.wantIn)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %s not made in the root: %v", tc.path, tc.wantIn, err)
		}
	}
	if _, err := os.Stat(filepath.Join(host, "outside", "sub")); err == nil {
		t.Error("/out/sub was made outside the root")
	}
	if _, err := os.Stat("/made/by/link"); err == nil {
		t.Error("/dangling/more was made on the host")
	}
	if err := mkdirAllInRoot(rootfd, "/file/x"); err != errNotDir {
		t.Errorf("/file/x: err = %v, want not a directory", err)
	}
	if err := mkdirAllInRoot(rootfd, "/file"); err != errNotDir {
		t.Errorf("/file: err = %v, want not a directory", err)
	}
	if err := mkdirAllInRoot(rootfd, "/loop/x"); err != unix.ELOOP {
		t.Errorf("/loop/x: err = %v, want ELOOP", err)
	}
}

// Any passwd and group content and any user spec give a user or an
// InvalidArgument error, never a panic; a found name gets its own line's ids.
func FuzzResolveUser(f *testing.F) {
	f.Add("app", testPasswd, testGroup, "video")
	f.Add("", "root:x:0:0::/root:/bin/sh\n", "root:x:0:root\n", "")
	f.Add("1:2:3", ":::::::\n\n#\n", "::::\n:x:\n", "0")
	f.Add("x:y", "x:x:-5:99999999999999999999\n", "y:x:abc:x,y\n", "y")
	f.Fuzz(func(t *testing.T, user, passwd, group, add string) {
		var groupAdd []string
		if add != "" {
			groupAdd = strings.Split(add, ",")
		}
		u, home, err := resolveUser(user, []byte(passwd), []byte(group), groupAdd)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: %v is not InvalidArgument", user, err)
			}
			return
		}
		if home == "" || len(u.AdditionalGids) == 0 || u.AdditionalGids[0] != u.GID {
			t.Fatalf("%q: %+v home %q", user, u, home)
		}
	})
}
