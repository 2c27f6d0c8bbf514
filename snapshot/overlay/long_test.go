package overlay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/mount"
	"hutch.dev/hutch/snapshot"
	"hutch.dev/hutch/snapshot/testsuite"
)

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts)")
	}
}

// mountAt mounts ms with MountAt on a new directory, unmounted at the end.
func mountAt(t *testing.T, ms []mount.Mount) string {
	t.Helper()
	target := t.TempDir()
	for _, m := range ms {
		if err := MountAt(m, target); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := mount.Unmount(target); err != nil {
				t.Error(err)
			}
		})
	}
	return target
}

func option(ms []mount.Mount, key string) string {
	for _, o := range ms[0].Options {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v
		}
	}
	return ""
}

// A file deleted through an overlay mount leaves a whiteout in the upper
// directory, a 0/0 character device; a directory removed and made again
// becomes opaque. Those uppers are what archive.Diff turns into layers.
func TestWhiteoutsInUpper(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	sn, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Unpack(ctx, sn, "base", "", func(dir string, _ []string) error {
		os.MkdirAll(filepath.Join(dir, "d"), 0o755)
		os.WriteFile(filepath.Join(dir, "d/x"), []byte("x"), 0o644)
		return os.WriteFile(filepath.Join(dir, "gone"), []byte("g"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	ms, err := sn.Prepare(ctx, "c", "base")
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Type != "overlay" {
		t.Fatalf("mounts %+v", ms)
	}
	for _, want := range kernelOptions() {
		if !strings.Contains(strings.Join(ms[0].Options, ","), want) {
			t.Errorf("options %v lack %s", ms[0].Options, want)
		}
	}
	target := testsuite.Mount(t, ms)
	if err := os.Remove(filepath.Join(target, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(target, "d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(target, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	upper := option(ms, "upperdir")
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(upper, "gone"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("upper/gone: mode %#o rdev %d, want a 0/0 character device", st.Mode, st.Rdev)
	}
	v := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(upper, "d"), "trusted.overlay.opaque", v)
	if err != nil || string(v[:n]) != "y" {
		t.Errorf("upper/d: trusted.overlay.opaque %q %v, want y", v[:n], err)
	}
}

// TestLongChain stacks 150 layers: the overlay options of a container on
// them exceed one page, so MountAt must take the fsopen or relative way.
func TestLongChain(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	sn, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	const layers = 150
	parent := ""
	for i := range layers {
		id := fmt.Sprintf("sha256:%064d", i)
		err := snapshot.Unpack(ctx, sn, id, parent, func(dir string, _ []string) error {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("layer-%d", i)), nil, 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "top"), []byte(fmt.Sprint(i)), 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		parent = id
	}
	ms, err := sn.Prepare(ctx, "c", parent)
	if err != nil {
		t.Fatal(err)
	}
	data, _, _ := splitOptions(ms[0].Options)
	if n := len(strings.Join(data, ",")); n < pageSize {
		t.Fatalf("options only %d bytes: the test needs a longer root", n)
	}
	if n := len(strings.Split(option(ms, "lowerdir"), ":")); n != layers {
		t.Fatalf("%d lowers", n)
	}

	// Given to mount(2) as it is, the kernel would cut the options; the
	// order of the options makes that fail instead of mounting half.
	t.Run("PlainMountFails", func(t *testing.T) {
		target := t.TempDir()
		err := ms[0].Mount(target)
		if err == nil {
			mount.Unmount(target)
			t.Fatal("a cut option string mounted")
		}
		t.Log(err)
	})
	check := func(t *testing.T, ms []mount.Mount, writable bool) {
		target := mountAt(t, ms)
		for i := range layers {
			if _, err := os.Stat(filepath.Join(target, fmt.Sprintf("layer-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		if b, err := os.ReadFile(filepath.Join(target, "top")); err != nil || string(b) != fmt.Sprint(layers-1) {
			t.Errorf("top: %q %v, want the top-most layer's", b, err)
		}
		err := os.WriteFile(filepath.Join(target, "w"), []byte("w"), 0o644)
		if writable && err != nil {
			t.Error(err)
		}
		if !writable && err == nil {
			t.Error("view is writable")
		}
	}
	t.Run("Fsopen", func(t *testing.T) {
		var u unix.Utsname
		unix.Uname(&u)
		var major, minor int
		fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
		if major < 6 || major == 6 && minor < 8 {
			t.Skip("lowerdir+ needs Linux 6.8")
		}
		// The fd way itself, not its fallback.
		data, attrs, _ := splitOptions(ms[0].Options)
		target := t.TempDir()
		if err := mountFD(data, attrs, target); err != nil {
			t.Fatal(err)
		}
		mount.Unmount(target)
		check(t, ms, true)
	})
	t.Run("Relative", func(t *testing.T) {
		useFsopen = false
		defer func() { useFsopen = true }()
		check(t, ms, true)
	})
	// A view of the 150 layers: an overlay of lowers only.
	vs, err := sn.View(ctx, "v", parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("View", func(t *testing.T) { check(t, vs, false) })
	t.Run("ViewRelative", func(t *testing.T) {
		useFsopen = false
		defer func() { useFsopen = true }()
		check(t, vs, false)
	})
	if now, _ := os.Getwd(); now != cwd {
		t.Errorf("the working directory changed from %s to %s", cwd, now)
	}
}

func TestRelativize(t *testing.T) {
	base, out, err := relativize([]string{
		"index=off",
		"upperdir=/r/snapshots/12/fs",
		"lowerdir=/r/snapshots/11/fs:/r/snapshots/3/fs",
		"workdir=/r/snapshots/12/work",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "index=off,upperdir=12/fs,lowerdir=11/fs:3/fs,workdir=12/work"
	if base != "/r/snapshots" || strings.Join(out, ",") != want {
		t.Errorf("got %s %s, want /r/snapshots %s", base, strings.Join(out, ","), want)
	}
	if _, _, err := relativize([]string{"lowerdir=a:b"}); err == nil {
		t.Error("relative lowerdir accepted")
	}
	if got := SplitLowers(`/a\:b:/c`); len(got) != 2 || got[0] != "/a:b" || got[1] != "/c" {
		t.Errorf("splitLowers: %q", got)
	}
}

func TestSupported(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	if err := Supported(root); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	// Not on a read-only file system.
	ro := t.TempDir()
	if err := (mount.Mount{Type: "bind", Source: root, Options: []string{"ro"}}).Mount(ro); err != nil {
		t.Fatal(err)
	}
	defer mount.Unmount(ro)
	if err := Supported(ro); err == nil {
		t.Error("supported on a read-only mount")
	}
}

func TestRootWithComma(t *testing.T) {
	if _, err := New(filepath.Join(t.TempDir(), "a,b")); err == nil {
		t.Error("root with a comma accepted")
	}
}
