// Package testsuite is the conformance suite every Snapshotter runs: the
// semantics of Prepare, View, Commit, Remove, Stat, Walk, Usage and
// ApplyLayer, checked by mounting the returned mounts for real (as root)
// the way a consumer does, with mount.Mount.
package testsuite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/mount"
	"hutch.dev/hutch/snapshot"
)

// Opener opens the snapshotter at root; a second call on the same root
// must see the snapshots the first made.
type Opener func(root string) (snapshot.Snapshotter, error)

// Run runs every conformance test as a subtest, each on a fresh root.
func Run(t *testing.T, open Opener) {
	if os.Geteuid() != 0 {
		t.Skip("snapshot conformance needs root (mounts)")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, context.Context, string, Opener)
	}{
		{"PrepareCommitView", testPrepareCommitView},
		{"Errors", testErrors},
		{"RemoveRules", testRemoveRules},
		{"Persistence", testPersistence},
		{"ConcurrentPrepare", testConcurrentPrepare},
		{"ApplyLayer", testApplyLayer},
		{"Unpack", testUnpack},
		{"ConcurrentUnpack", testConcurrentUnpack},
		{"UnpackStale", testUnpackStale},
		{"Usage", testUsage},
		{"EmptyParent", testEmptyParent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			tc.fn(t, context.Background(), root, open)
		})
	}
}

func openOK(t *testing.T, open Opener, root string) snapshot.Snapshotter {
	t.Helper()
	sn, err := open(root)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// Mount performs ms on a new directory as a consumer does and unmounts it
// when the test ends (before the temp dir is removed, as cleanups run last
// registered first). Stacked mounts go on the same target.
func Mount(t *testing.T, ms []mount.Mount) string {
	t.Helper()
	target := t.TempDir()
	n := 0
	t.Cleanup(func() {
		for ; n > 0; n-- {
			if err := mount.Unmount(target); err != nil {
				t.Error(err)
			}
		}
	})
	for _, m := range ms {
		if err := m.Mount(target); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return target
}

// Unmount takes down what Mount made early, e.g. before a Commit.
func Unmount(t *testing.T, target string) {
	t.Helper()
	for {
		if err := unix.Unmount(target, 0); err != nil {
			if err == unix.EINVAL {
				return // no longer a mount point
			}
			t.Fatalf("unmount %s: %v", target, err)
		}
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, path, data string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read %s: %v", path, err)
		return
	}
	if string(b) != data {
		if len(b) > 64 {
			b = append(b[:64:64], "..."...)
		}
		t.Errorf("%s: %q, want %q", path, b, data)
	}
}

func absent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: want absent, got %v", path, err)
	}
}

// The helpers below fail the test on an error.

func prepare(t *testing.T, sn snapshot.Snapshotter, key, parent string) []mount.Mount {
	t.Helper()
	ms, err := sn.Prepare(context.Background(), key, parent)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func view(t *testing.T, sn snapshot.Snapshotter, key, parent string) []mount.Mount {
	t.Helper()
	ms, err := sn.View(context.Background(), key, parent)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func mounts(t *testing.T, sn snapshot.Snapshotter, key string) []mount.Mount {
	t.Helper()
	ms, err := sn.Mounts(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func stat(t *testing.T, sn snapshot.Snapshotter, key string) snapshot.Info {
	t.Helper()
	info, err := sn.Stat(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func usage(t *testing.T, sn snapshot.Snapshotter, key string) snapshot.Usage {
	t.Helper()
	u, err := sn.Usage(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func class(t *testing.T, what string, err error, is func(error) bool, want string) {
	t.Helper()
	if err == nil || !is(err) {
		t.Errorf("%s: got %v, want a %s error", what, err, want)
	}
}

// base commits a snapshot "base" holding etc/passwd, etc/group, bin/sh, a
// hard link and a symlink, written through its mount.
func base(t *testing.T, ctx context.Context, sn snapshot.Snapshotter) {
	t.Helper()
	target := Mount(t, prepare(t, sn, "base-active", ""))
	write(t, filepath.Join(target, "etc/passwd"), "root:x:0:0")
	write(t, filepath.Join(target, "etc/group"), "root:x:0:")
	write(t, filepath.Join(target, "bin/sh"), "#!sh")
	write(t, filepath.Join(target, "dir/a"), "a")
	write(t, filepath.Join(target, "dir/b"), "b")
	if err := os.Link(filepath.Join(target, "bin/sh"), filepath.Join(target, "bin/ash")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sh", filepath.Join(target, "bin/bash")); err != nil {
		t.Fatal(err)
	}
	Unmount(t, target)
	if err := sn.Commit(ctx, "base", "base-active"); err != nil {
		t.Fatal(err)
	}
}

func testPrepareCommitView(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	base(t, ctx, sn)
	if _, err := sn.Stat(ctx, "base-active"); !errdefs.IsNotFound(err) {
		t.Errorf("active key after commit: %v", err)
	}
	info := stat(t, sn, "base")
	if info.Kind != snapshot.KindCommitted || info.Parent != "" || info.Name != "base" || info.Created.IsZero() {
		t.Errorf("stat base: %+v", info)
	}

	// A second layer: change, delete, add.
	top := Mount(t, prepare(t, sn, "top-active", "base"))
	expect(t, filepath.Join(top, "etc/passwd"), "root:x:0:0")
	expect(t, filepath.Join(top, "bin/bash"), "#!sh")
	write(t, filepath.Join(top, "etc/passwd"), "root:x:0:0\nuser:x:1000:1000")
	if err := os.Remove(filepath.Join(top, "etc/group")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(top, "dir")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(top, "dir/c"), "c")
	write(t, filepath.Join(top, "new/file"), "new")
	info = stat(t, sn, "top-active")
	if info.Kind != snapshot.KindActive || info.Parent != "base" {
		t.Errorf("stat top-active: %+v", info)
	}
	Unmount(t, top)
	if err := sn.Commit(ctx, "top", "top-active"); err != nil {
		t.Fatal(err)
	}

	// A view of the two layers shows the second's changes and refuses writes.
	v := Mount(t, view(t, sn, "view", "top"))
	expect(t, filepath.Join(v, "etc/passwd"), "root:x:0:0\nuser:x:1000:1000")
	absent(t, filepath.Join(v, "etc/group"))
	absent(t, filepath.Join(v, "dir/a"))
	expect(t, filepath.Join(v, "dir/c"), "c")
	expect(t, filepath.Join(v, "new/file"), "new")
	expect(t, filepath.Join(v, "bin/ash"), "#!sh")
	if err := os.WriteFile(filepath.Join(v, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into a view: %v, want EROFS", err)
	}
	if info := stat(t, sn, "view"); info.Kind != snapshot.KindView || info.Parent != "top" {
		t.Errorf("stat view: %+v", info)
	}

	// A view of one layer, and the base untouched by the layer above it.
	v1 := Mount(t, view(t, sn, "view1", "base"))
	expect(t, filepath.Join(v1, "etc/group"), "root:x:0:")
	expect(t, filepath.Join(v1, "dir/a"), "a")
	absent(t, filepath.Join(v1, "new"))
	if err := os.WriteFile(filepath.Join(v1, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into a view of one layer: %v, want EROFS", err)
	}

	// Two containers on the same image do not see each other's writes.
	c1 := Mount(t, prepare(t, sn, "c1", "top"))
	c2 := Mount(t, prepare(t, sn, "c2", "top"))
	write(t, filepath.Join(c1, "etc/passwd"), "c1")
	expect(t, filepath.Join(c2, "etc/passwd"), "root:x:0:0\nuser:x:1000:1000")
	expect(t, filepath.Join(c1, "etc/passwd"), "c1")

	// Mounts gives the same again.
	again := Mount(t, mounts(t, sn, "c1"))
	expect(t, filepath.Join(again, "etc/passwd"), "c1")

	var names []string
	err := sn.Walk(ctx, func(_ context.Context, i snapshot.Info) error {
		names = append(names, fmt.Sprintf("%s:%s:%s", i.Name, i.Kind, i.Parent))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"base:committed:", "c1:active:top", "c2:active:top", "top:committed:base", "view:view:top", "view1:view:base"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("walk: %v, want %v", names, want)
	}
}

func testErrors(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	base(t, ctx, sn)
	prepare(t, sn, "active", "base")
	view(t, sn, "view", "base")

	_, err := sn.Prepare(ctx, "active", "base")
	class(t, "prepare an existing key", err, errdefs.IsAlreadyExists, "already exists")
	_, err = sn.Prepare(ctx, "base", "")
	class(t, "prepare a committed name", err, errdefs.IsAlreadyExists, "already exists")
	_, err = sn.Prepare(ctx, "x", "missing")
	class(t, "prepare on a missing parent", err, errdefs.IsNotFound, "not found")
	_, err = sn.Prepare(ctx, "x", "active")
	class(t, "prepare on an active parent", err, errdefs.IsFailedPrecondition, "failed precondition")
	_, err = sn.View(ctx, "x", "view")
	class(t, "view of a view", err, errdefs.IsFailedPrecondition, "failed precondition")
	_, err = sn.Prepare(ctx, "", "base")
	class(t, "prepare an empty key", err, errdefs.IsInvalidArgument, "invalid argument")
	class(t, "commit a view", sn.Commit(ctx, "x", "view"), errdefs.IsFailedPrecondition, "failed precondition")
	class(t, "commit a committed snapshot", sn.Commit(ctx, "x", "base"), errdefs.IsFailedPrecondition, "failed precondition")
	class(t, "commit onto an existing name", sn.Commit(ctx, "base", "active"), errdefs.IsAlreadyExists, "already exists")
	class(t, "commit a missing key", sn.Commit(ctx, "x", "missing"), errdefs.IsNotFound, "not found")
	_, err = sn.Mounts(ctx, "base")
	class(t, "mounts of a committed snapshot", err, errdefs.IsFailedPrecondition, "failed precondition")
	_, err = sn.Mounts(ctx, "missing")
	class(t, "mounts of a missing key", err, errdefs.IsNotFound, "not found")
	_, err = sn.Stat(ctx, "missing")
	class(t, "stat a missing key", err, errdefs.IsNotFound, "not found")
	class(t, "remove a missing key", sn.Remove(ctx, "missing"), errdefs.IsNotFound, "not found")
	_, err = sn.Usage(ctx, "missing")
	class(t, "usage of a missing key", err, errdefs.IsNotFound, "not found")
	err = sn.ApplyLayer(ctx, "view", func(string, []string) error { return nil })
	class(t, "apply into a view", err, errdefs.IsFailedPrecondition, "failed precondition")
	// The failed calls left nothing: a walk sees the three snapshots only.
	n := 0
	sn.Walk(ctx, func(context.Context, snapshot.Info) error { n++; return nil })
	if n != 3 {
		t.Errorf("walk after failures: %d snapshots, want 3", n)
	}
	// The error names the snapshot.
	if _, err := sn.Prepare(ctx, "x", "missing"); err == nil || !containsAll(err.Error(), `"x"`, `"missing"`) {
		t.Errorf("error text %q should name key and parent", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !contains(s, sub) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func testRemoveRules(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	base(t, ctx, sn)
	prepare(t, sn, "mid-active", "base")
	if err := sn.Commit(ctx, "mid", "mid-active"); err != nil {
		t.Fatal(err)
	}
	c := Mount(t, prepare(t, sn, "container", "mid"))
	view(t, sn, "view", "base")

	class(t, "remove a parent of a committed and a view", sn.Remove(ctx, "base"), errdefs.IsFailedPrecondition, "failed precondition")
	class(t, "remove a parent of an active", sn.Remove(ctx, "mid"), errdefs.IsFailedPrecondition, "failed precondition")
	expect(t, filepath.Join(c, "etc/passwd"), "root:x:0:0")
	if err := sn.Remove(ctx, "view"); err != nil {
		t.Fatal(err)
	}
	class(t, "remove base, still parent of mid", sn.Remove(ctx, "base"), errdefs.IsFailedPrecondition, "failed precondition")
	Unmount(t, c)
	for _, k := range []string{"container", "mid", "base"} {
		if err := sn.Remove(ctx, k); err != nil {
			t.Fatalf("remove %s: %v", k, err)
		}
	}
	n := 0
	sn.Walk(ctx, func(context.Context, snapshot.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d snapshots left", n)
	}
	// Every directory went with its snapshot.
	ents, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	if len(ents) != 0 {
		t.Errorf("left in %s/snapshots: %v", root, ents)
	}
}

func testPersistence(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	base(t, ctx, sn)
	c := Mount(t, prepare(t, sn, "container", "base"))
	write(t, filepath.Join(c, "state"), "kept")
	Unmount(t, c)
	before := stat(t, sn, "container")

	sn2 := openOK(t, open, root)
	after := stat(t, sn2, "container")
	if !before.Created.Equal(after.Created) || before.Kind != after.Kind || before.Parent != after.Parent {
		t.Errorf("after reopening: %+v, want %+v", after, before)
	}
	c = Mount(t, mounts(t, sn2, "container"))
	expect(t, filepath.Join(c, "state"), "kept")
	expect(t, filepath.Join(c, "etc/passwd"), "root:x:0:0")
	Unmount(t, c)
	if err := sn2.Commit(ctx, "image2", "container"); err != nil {
		t.Fatal(err)
	}
	// And the first instance sees what the second did.
	if info := stat(t, sn, "image2"); info.Kind != snapshot.KindCommitted || info.Parent != "base" {
		t.Errorf("first instance: %+v", info)
	}
	class(t, "first instance: remove base", sn.Remove(ctx, "base"), errdefs.IsFailedPrecondition, "failed precondition")
}

func testConcurrentPrepare(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	base(t, ctx, sn)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	// Half the goroutines use an instance of their own, as another
	// process would.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sn
			if i%2 == 1 {
				var err error
				if s, err = open(root); err != nil {
					errs[i] = err
					return
				}
			}
			_, errs[i] = s.Prepare(ctx, fmt.Sprintf("c%d", i), "base")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("prepare c%d: %v", i, err)
		}
	}
	// Each has its own upper.
	for i := range n {
		target := Mount(t, mounts(t, sn, fmt.Sprintf("c%d", i)))
		write(t, filepath.Join(target, "id"), fmt.Sprint(i))
	}
	for i := range n {
		target := Mount(t, mounts(t, sn, fmt.Sprintf("c%d", i)))
		expect(t, filepath.Join(target, "id"), fmt.Sprint(i))
	}

	// The same key from many: one wins, the others hear AlreadyExists.
	var ok, exists atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := open(root)
			if err == nil {
				_, err = s.Prepare(ctx, "same", "base")
			}
			switch {
			case err == nil:
				ok.Add(1)
			case errdefs.IsAlreadyExists(err):
				exists.Add(1)
			default:
				t.Errorf("prepare same: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || exists.Load() != n-1 {
		t.Errorf("prepare same key: %d won, %d already exists", ok.Load(), exists.Load())
	}
	ents, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	if len(ents) != n+2 {
		t.Errorf("%d snapshot directories, want %d (losers must clean up)", len(ents), n+2)
	}
}

// overlayLayer writes, in overlay's form, a layer that deletes etc/group,
// makes dir opaque with one new file, changes etc/passwd and links two new
// files.
func overlayLayer(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		return err
	}
	if err := unix.Mknod(filepath.Join(dir, "etc/group"), unix.S_IFCHR, 0); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("layer"), 0o600); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o750); err != nil {
		return err
	}
	if err := unix.Setxattr(filepath.Join(dir, "dir"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "dir/only"), []byte("only"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/l1"), []byte("linked"), 0o644); err != nil {
		return err
	}
	return os.Link(filepath.Join(dir, "etc/l1"), filepath.Join(dir, "etc/l2"))
}

func checkLayer(t *testing.T, v string) {
	t.Helper()
	absent(t, filepath.Join(v, "etc/group"))
	expect(t, filepath.Join(v, "etc/passwd"), "layer")
	expect(t, filepath.Join(v, "dir/only"), "only")
	absent(t, filepath.Join(v, "dir/a"))
	absent(t, filepath.Join(v, "dir/b"))
	expect(t, filepath.Join(v, "bin/sh"), "#!sh")
	if fi, err := os.Stat(filepath.Join(v, "etc/passwd")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("etc/passwd mode: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(v, "dir")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("dir mode: %v %v", fi, err)
	}
	var a, b unix.Stat_t
	if unix.Stat(filepath.Join(v, "etc/l1"), &a) != nil || unix.Stat(filepath.Join(v, "etc/l2"), &b) != nil || a.Ino != b.Ino {
		t.Errorf("etc/l1 and etc/l2 are not one inode")
	}
	if _, err := unix.Getxattr(filepath.Join(v, "dir"), "trusted.overlay.opaque", nil); err == nil {
		t.Errorf("dir shows the overlay opaque xattr")
	}
}

func testApplyLayer(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	base(t, ctx, sn)
	prepare(t, sn, "layer", "base")
	err := sn.ApplyLayer(ctx, "layer", func(dir string, parents []string) error {
		// The parents show the parent's files (for archive.WithParentLayers).
		if len(parents) == 0 {
			return errors.New("no parents")
		}
		if _, err := os.Lstat(filepath.Join(parents[0], "dir/a")); err != nil {
			return fmt.Errorf("parents %v: %w", parents, err)
		}
		return overlayLayer(dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, "layer2", "layer"); err != nil {
		t.Fatal(err)
	}
	checkLayer(t, Mount(t, view(t, sn, "view", "layer2")))
	// And a container on it.
	checkLayer(t, Mount(t, prepare(t, sn, "c", "layer2")))
	// A failing apply is reported with the snapshot.
	prepare(t, sn, "bad", "layer2")
	err = sn.ApplyLayer(ctx, "bad", func(string, []string) error { return errors.New("bad tar") })
	if err == nil || !containsAll(err.Error(), `"bad"`, "bad tar") {
		t.Errorf("failing apply: %v", err)
	}
}

func testUnpack(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	base(t, ctx, sn)
	calls := 0
	apply := func(dir string, _ []string) error { calls++; return overlayLayer(dir) }
	if err := snapshot.Unpack(ctx, sn, "sha256:l2", "base", apply); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Unpack(ctx, sn, "sha256:l2", "base", apply); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("apply ran %d times, want 1", calls)
	}
	info := stat(t, sn, "sha256:l2")
	if info.Kind != snapshot.KindCommitted || info.Parent != "base" {
		t.Errorf("stat: %+v", info)
	}
	checkLayer(t, Mount(t, view(t, sn, "v", "sha256:l2")))
	// A base layer, and a failed unpack that leaves nothing.
	if err := snapshot.Unpack(ctx, sn, "sha256:b", "", func(dir string, _ []string) error {
		return os.WriteFile(filepath.Join(dir, "f"), []byte("b"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	err := snapshot.Unpack(ctx, sn, "sha256:bad", "sha256:b", func(string, []string) error { return errors.New("corrupt layer") })
	if err == nil || !containsAll(err.Error(), "sha256:bad", "corrupt layer") {
		t.Errorf("failed unpack: %v", err)
	}
	if _, err := sn.Stat(ctx, "sha256:bad"); !errdefs.IsNotFound(err) {
		t.Errorf("failed unpack left %v", err)
	}
	err = snapshot.Unpack(ctx, sn, "sha256:x", "sha256:missing", apply)
	class(t, "unpack on a missing parent", err, errdefs.IsNotFound, "not found")
	var names []string
	sn.Walk(ctx, func(_ context.Context, i snapshot.Info) error { names = append(names, i.Name); return nil })
	sort.Strings(names)
	if fmt.Sprint(names) != "[base sha256:b sha256:l2 v]" {
		t.Errorf("snapshots after unpacks: %v", names)
	}
}

func testConcurrentUnpack(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	base(t, ctx, sn)
	var calls atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := open(root)
			if err == nil {
				err = snapshot.Unpack(ctx, s, "sha256:l2", "base", func(dir string, _ []string) error {
					calls.Add(1)
					return overlayLayer(dir)
				})
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("apply ran %d times, want 1", calls.Load())
	}
	checkLayer(t, Mount(t, view(t, sn, "v", "sha256:l2")))
}

// testUnpackStale: an unpack that died between Prepare and Commit (a pull
// killed halfway) leaves an active snapshot; the next unpack removes it.
func testUnpackStale(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	base(t, ctx, sn)
	stale := "unpack/sha256:l2/dead"
	prepare(t, sn, stale, "base")
	if err := snapshot.Unpack(ctx, sn, "sha256:l2", "base", func(dir string, _ []string) error { return overlayLayer(dir) }); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, stale); !errdefs.IsNotFound(err) {
		t.Errorf("stale unpack snapshot: %v", err)
	}
	// A name held by a non-committed snapshot cannot be unpacked into.
	prepare(t, sn, "sha256:held", "base")
	err := snapshot.Unpack(ctx, sn, "sha256:held", "base", func(dir string, _ []string) error { return overlayLayer(dir) })
	class(t, "unpack onto an active name", err, errdefs.IsConflict, "conflict")
}

func testUsage(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	target := Mount(t, prepare(t, sn, "a", ""))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i)
	}
	if err := os.WriteFile(filepath.Join(target, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Link(filepath.Join(target, "big"), filepath.Join(target, "big2"))
	Unmount(t, target)
	u := usage(t, sn, "a")
	if u.Size < 1<<20 || u.Size > 2<<20 || u.Inodes != 1 {
		t.Errorf("usage %+v, want 1 MiB in one inode", u)
	}
	if err := sn.Commit(ctx, "b", "a"); err != nil {
		t.Fatal(err)
	}
	if u2 := usage(t, sn, "b"); u2.Size < 1<<20 || u2.Inodes != 1 {
		t.Errorf("usage after commit %+v", u2)
	}
}

// testEmptyParent: snapshots without a parent mount as empty directories.
func testEmptyParent(t *testing.T, ctx context.Context, root string, open Opener) {
	sn := openOK(t, open, root)
	v := Mount(t, view(t, sn, "v", ""))
	ents, err := os.ReadDir(v)
	if err != nil || len(ents) != 0 {
		t.Errorf("empty view: %v %v", ents, err)
	}
	a := Mount(t, prepare(t, sn, "a", ""))
	write(t, filepath.Join(a, "f"), "f")
	if err := os.WriteFile(filepath.Join(v, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into an empty view: %v, want EROFS", err)
	}
}
