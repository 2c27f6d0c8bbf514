package integration

// Pull → unpack: an image of several layers (busybox rootfs, whiteouts, an
// opaque directory, hard links, symlinks, xattrs, owners, setuid) is built
// here, pushed to Debian's docker-registry on 127.0.0.1, pulled by hutch
// into a fresh root, and the top snapshot, mounted read-only, is compared
// file by file with `umoci unpack` of the same image (fetched by skopeo).
// Then layer sharing, rmi and a layer whose DiffID lies.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/image/unpack"
	"hutch.dev/hutch/mount"
	"hutch.dev/hutch/snapshot"
	"hutch.dev/hutch/snapshot/overlay"
)

// entry is one tar entry of a test layer.
type entry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
	xattrs   map[string]string
}

var layerTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func tarLayer(t *testing.T, es []entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
			if typ == tar.TypeSymlink {
				mode = 0o777
			}
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, ModTime: layerTime, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if len(e.xattrs) > 0 {
			hdr.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				hdr.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testLayers returns the busybox base layer and three layers over it, plus
// a fourth that replaces the third in a second image.
func testLayers(t *testing.T) (base, l1, l2, l3, l4 v1.Layer) {
	base, err := tarball.LayerFromFile(busyboxTar(t))
	if err != nil {
		t.Fatal(err)
	}
	l1 = tarLayer(t, []entry{
		{name: "data/", typ: tar.TypeDir},
		{name: "data/owned", mode: 0o640, uid: 1000, gid: 1000, body: "owned by 1000\n"},
		{name: "data/sub/", typ: tar.TypeDir, uid: 1000, gid: 1000},
		{name: "data/sub/deep", body: "deep\n"},
		{name: "data/sub/keep", body: "keep\n"},
		{name: "data/sgid/", typ: tar.TypeDir, mode: 0o2775, uid: 1000, gid: 1000},
		{name: "data/xa", body: "xattrs\n", xattrs: map[string]string{"user.test": "value", "user.bin": "\x00\x01\xff"}},
		{name: "data/link", typ: tar.TypeSymlink, link: "sub/deep"},
		{name: "data/abs", typ: tar.TypeSymlink, link: "/etc/hostname-missing"},
		{name: "data/fifo", typ: tar.TypeFifo, mode: 0o600},
		{name: "gone.txt", body: "bye\n"},
		{name: "gonedir/", typ: tar.TypeDir},
		{name: "gonedir/inner/", typ: tar.TypeDir},
		{name: "gonedir/inner/f", body: "x"},
		{name: "gonedir/g", body: "g"},
		{name: "opq/", typ: tar.TypeDir},
		{name: "opq/a", body: "a"},
		{name: "opq/b", body: "b"},
		{name: "opq/keepdir/", typ: tar.TypeDir},
		{name: "opq/keepdir/x", body: "x"},
		{name: "links/", typ: tar.TypeDir},
		{name: "links/a", body: "three names\n"},
		{name: "links/b", typ: tar.TypeLink, link: "links/a"},
		{name: "links/c", typ: tar.TypeLink, link: "links/a"},
		{name: "bin/suidprog", mode: 0o4755, body: "#!/bin/sh\n"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
	})
	l2 = tarLayer(t, []entry{
		{name: ".wh.gone.txt"},
		{name: ".wh.gonedir"},
		// Docker and BuildKit write the parent of every change; a layer
		// without it is TestImagesUnpackImplicitParent.
		{name: "data/sub/", typ: tar.TypeDir, uid: 1000, gid: 1000},
		{name: "data/sub/.wh.deep"},
		{name: "data/new", uid: 1000, gid: 1000, mode: 0o600, body: "new\n"},
		{name: "data/h1", body: "pair\n", uid: 1000, gid: 1000},
		{name: "data/h2", typ: tar.TypeLink, link: "data/h1"},
		{name: "bin/sgidprog", mode: 0o2755, gid: 1000, body: "sgid\n"},
	})
	l3 = tarLayer(t, []entry{
		{name: "opq/", typ: tar.TypeDir, mode: 0o750},
		{name: "opq/.wh..wh..opq"},
		{name: "opq/c", body: "new c\n"},
		{name: "opq/s", typ: tar.TypeSymlink, link: "c"},
		{name: "data/owned", mode: 0o600, uid: 1000, gid: 1000, body: "changed\n"},
		{name: "data/xa2", body: "x2", xattrs: map[string]string{"user.other": "o"}},
	})
	l4 = tarLayer(t, []entry{
		{name: "b-only", body: "second image\n"},
	})
	return base, l1, l2, l3, l4
}

func pushImage(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func layeredImage(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Cmd = []string{"/bin/sh"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return img
}

func topChainID(t *testing.T, img v1.Image) string {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	chain := cfg.RootFS.DiffIDs[0].String()
	for _, d := range cfg.RootFS.DiffIDs[1:] {
		sum := sha256.Sum256([]byte(chain + " " + d.String()))
		chain = "sha256:" + hex.EncodeToString(sum[:])
	}
	return chain
}

// snapshots lists the root's snapshots by kind.
func (h *hutchImg) snapshots() map[string]snapshot.Kind {
	h.t.Helper()
	sn, _, err := unpack.Open(h.root, "")
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]snapshot.Kind{}
	err = sn.Walk(context.Background(), func(_ context.Context, i snapshot.Info) error {
		out[i.Name] = i.Kind
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *hutchImg) committed() int {
	n := 0
	for _, k := range h.snapshots() {
		if k != snapshot.KindCommitted {
			h.t.Fatalf("snapshots: %v, want only committed ones", h.snapshots())
		}
		n++
	}
	return n
}

// view mounts a read-only view of the committed snapshot chainID in a temp
// dir; cleanup unmounts it and removes the view.
func (h *hutchImg) view(chainID string) (string, func()) {
	h.t.Helper()
	sn, _, err := unpack.Open(h.root, "")
	if err != nil {
		h.t.Fatal(err)
	}
	ctx := context.Background()
	key := "test-view-" + fmt.Sprint(time.Now().UnixNano())
	ms, err := sn.View(ctx, key, chainID)
	if err != nil {
		h.t.Fatal(err)
	}
	target := filepath.Join(h.t.TempDir(), "view")
	os.Mkdir(target, 0o755)
	var done []string
	cleanup := func() {
		for i := len(done) - 1; i >= 0; i-- {
			if err := mount.Unmount(done[i]); err != nil {
				h.t.Error(err)
			}
		}
		done = nil
		if err := sn.Remove(ctx, key); err != nil && !strings.Contains(err.Error(), "not found") {
			h.t.Error(err)
		}
	}
	for _, m := range ms {
		if err := overlay.MountAt(m, target); err != nil {
			cleanup()
			h.t.Fatal(err)
		}
		done = append(done, target)
	}
	h.t.Cleanup(cleanup)
	return target, cleanup
}

// fileInfo is what the comparison looks at for one path.
type fileInfo struct {
	mode     fs.FileMode
	uid, gid uint32
	data     string // sha256 of the content (regular files)
	link     string
	rdev     uint64
	mtime    int64 // regular files and symlinks
	xattrs   string
	ino      uint64
	nlink    uint64
}

func (f fileInfo) String() string {
	return fmt.Sprintf("%v %d:%d data=%.12s link=%q rdev=%d mtime=%d xattrs=%q nlink=%d", f.mode, f.uid, f.gid, f.data, f.link, f.rdev, f.mtime, f.xattrs, f.nlink)
}

func listXattrs(path string) (string, error) {
	sz, err := unix.Llistxattr(path, nil)
	if err != nil || sz == 0 {
		if err == unix.ENOTSUP {
			err = nil
		}
		return "", err
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(path, buf)
	if err != nil {
		return "", err
	}
	var out []string
	for _, n := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if n == "" || strings.HasPrefix(n, "trusted.overlay.") || strings.HasPrefix(n, "user.overlay.") || n == "security.selinux" {
			continue
		}
		v := make([]byte, 64<<10)
		vn, err := unix.Lgetxattr(path, n, v)
		if err != nil {
			return "", fmt.Errorf("getxattr %s %s: %w", path, n, err)
		}
		out = append(out, n+"="+hex.EncodeToString(v[:vn]))
	}
	sort.Strings(out)
	return strings.Join(out, ","), nil
}

func scanTree(t *testing.T, root string) map[string]fileInfo {
	t.Helper()
	out := map[string]fileInfo{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f := fileInfo{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, ino: st.Ino, nlink: uint64(st.Nlink)}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			f.data = hex.EncodeToString(sum[:])
			f.mtime = st.Mtim.Sec
		case fi.Mode()&fs.ModeSymlink != 0:
			if f.link, err = os.Readlink(path); err != nil {
				return err
			}
			f.mtime = st.Mtim.Sec
		case fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0:
			f.rdev = st.Rdev
		}
		if fi.IsDir() {
			f.nlink = 0 // a directory's link count depends on its subdirectories only
		}
		if f.xattrs, err = listXattrs(path); err != nil {
			return err
		}
		out[rel] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// linkGroups lists the sets of paths that are one inode (nlink > 1).
func linkGroups(tree map[string]fileInfo) []string {
	by := map[uint64][]string{}
	for p, f := range tree {
		if !f.mode.IsDir() && f.nlink > 1 {
			by[f.ino] = append(by[f.ino], p)
		}
	}
	var out []string
	for _, ps := range by {
		sort.Strings(ps)
		out = append(out, strings.Join(ps, " = "))
	}
	sort.Strings(out)
	return out
}

func compareTrees(t *testing.T, got, want map[string]fileInfo) {
	t.Helper()
	var bad []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			bad = append(bad, "missing in hutch's: "+p)
		default:
			g.ino, w.ino = 0, 0
			if g != w {
				bad = append(bad, fmt.Sprintf("%s:\n  hutch %v\n  umoci %v", p, g, w))
			}
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			bad = append(bad, "only in hutch's: "+p)
		}
	}
	gl, wl := linkGroups(got), linkGroups(want)
	if strings.Join(gl, "\n") != strings.Join(wl, "\n") {
		bad = append(bad, fmt.Sprintf("hard link groups:\n  hutch %q\n  umoci %q", gl, wl))
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("trees differ (%d):\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

func umociUnpack(t *testing.T, reg, repoTag string) string {
	t.Helper()
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Skip("umoci is not installed")
	}
	layout := filepath.Join(t.TempDir(), "layout")
	skopeo(t, "copy", "--src-tls-verify=false", "docker://"+reg+"/"+repoTag, "oci:"+layout+":img")
	bundle := filepath.Join(t.TempDir(), "bundle")
	out, err := exec.Command("umoci", "unpack", "--image", layout+":img", bundle).CombinedOutput()
	if err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	return filepath.Join(bundle, "rootfs")
}

func TestImagesUnpackAgainstUmoci(t *testing.T) {
	for _, driver := range []string{"overlay", "native"} {
		t.Run(driver, func(t *testing.T) {
			if driver == "overlay" {
				if err := overlay.Supported(t.TempDir()); err != nil {
					t.Skipf("overlay not supported here: %v", err)
				}
			}
			t.Setenv("HUTCH_STORAGE_DRIVER", driver)
			reg := startRegistry(t)
			base, l1, l2, l3, _ := testLayers(t)
			img := layeredImage(t, base, l1, l2, l3)
			pushImage(t, reg+"/test/unpack:a", img)

			h := newImageRoot(t)
			h.ok("pull", reg+"/test/unpack:a")
			if d, _ := os.ReadFile(filepath.Join(h.root, "storage-driver")); strings.TrimSpace(string(d)) != driver {
				t.Fatalf("storage-driver = %q, want %s", d, driver)
			}
			if n := h.committed(); n != 4 {
				t.Fatalf("%d committed snapshots, want 4", n)
			}
			dir, cleanup := h.view(topChainID(t, img))
			defer cleanup()
			got := scanTree(t, dir)
			want := scanTree(t, umociUnpack(t, reg, "test/unpack:a"))
			// The rootfs directory itself is umoci's (the layers have no "./").
			delete(got, ".")
			delete(want, ".")
			compareTrees(t, got, want)

			// And what the layers say, not only what umoci says.
			for _, p := range []string{"gone.txt", "gonedir", "data/sub/deep", "opq/a", "opq/b", "opq/keepdir"} {
				if _, ok := got[p]; ok {
					t.Errorf("%s survived its whiteout", p)
				}
			}
			for p, w := range map[string]string{
				"opq/c":        "-rw-r--r-- 0:0",
				"opq":          "drwxr-x--- 0:0",
				"data/owned":   "-rw------- 1000:1000",
				"bin/suidprog": "urwxr-xr-x 0:0",
				"bin/sgidprog": "grwxr-xr-x 0:1000",
				"data/sgid":    "dgrwxrwxr-x 1000:1000",
				"tmp":          "dtrwxrwxrwx 0:0",
				"data/sub":     "drwxr-xr-x 1000:1000",
				"data/fifo":    "prw------- 0:0",
			} {
				f, ok := got[p]
				if g := fmt.Sprintf("%v %d:%d", f.mode, f.uid, f.gid); !ok || g != w {
					t.Errorf("%s: %q, want %q", p, g, w)
				}
			}
			if f := got["data/xa"]; f.xattrs != "user.bin=0001ff,user.test="+hex.EncodeToString([]byte("value")) {
				t.Errorf("data/xa xattrs %q", f.xattrs)
			}
			if got["opq/s"].link != "c" || got["data/abs"].link != "/etc/hostname-missing" {
				t.Errorf("symlinks: %v %v", got["opq/s"], got["data/abs"])
			}
			if g := strings.Join(linkGroups(got), "\n"); !strings.Contains(g, "links/a = links/b = links/c") || !strings.Contains(g, "data/h1 = data/h2") {
				t.Errorf("hard links: %s", g)
			}
		})
	}
}

func TestImagesUnpackSharedLayersAndRmi(t *testing.T) {
	reg := startRegistry(t)
	base, l1, l2, l3, l4 := testLayers(t)
	a := layeredImage(t, base, l1, l2, l3)
	b := layeredImage(t, base, l1, l2, l4)
	pushImage(t, reg+"/test/unpack:a", a)
	pushImage(t, reg+"/test/unpack:b", b)

	h := newImageRoot(t)
	h.ok("pull", reg+"/test/unpack:a")
	if n := h.committed(); n != 4 {
		t.Fatalf("after the first pull: %d snapshots, want 4", n)
	}
	h.ok("pull", reg+"/test/unpack:b")
	// base, l1 and l2 are shared: only b's top layer is new.
	if n := h.committed(); n != 5 {
		t.Fatalf("after the second pull: %d snapshots, want 5", n)
	}
	// A second pull of a present image unpacks nothing.
	h.ok("pull", reg+"/test/unpack:b")
	if n := h.committed(); n != 5 {
		t.Fatalf("after pulling b again: %d snapshots, want 5", n)
	}
	topB := topChainID(t, b)

	// A view on b's top (a container later) keeps b's layers even when b goes.
	dir, cleanup := h.view(topB)
	if data, err := os.ReadFile(filepath.Join(dir, "b-only")); err != nil || string(data) != "second image\n" {
		t.Fatalf("b-only: %q %v", data, err)
	}
	h.ok("rmi", reg+"/test/unpack:a")
	snaps := h.snapshots()
	if len(snaps) != 5 || snaps[topChainID(t, a)] != snapshot.KindUnknown {
		t.Fatalf("after rmi a: %v, want b's 4 layers and the view", snaps)
	}
	h.ok("rmi", reg+"/test/unpack:b")
	if snaps := h.snapshots(); len(snaps) != 5 {
		t.Fatalf("rmi b removed layers under a view: %v", snaps)
	}
	cleanup()
	// image prune collects what rmi could not.
	h.ok("image", "prune")
	if snaps := h.snapshots(); len(snaps) != 0 {
		t.Fatalf("after prune: %v, want none", snaps)
	}
	assertEmptySnapshotDir(t, h)

	// And plain rmi of the last image removes everything.
	h.ok("pull", reg+"/test/unpack:a")
	h.ok("pull", reg+"/test/unpack:b")
	h.ok("rmi", reg+"/test/unpack:b")
	if n := h.committed(); n != 4 {
		t.Fatalf("after rmi b: %d, want a's 4", n)
	}
	h.ok("rmi", reg+"/test/unpack:a")
	if n := h.committed(); n != 0 {
		t.Fatalf("after rmi of both: %d snapshots", n)
	}
	assertEmptySnapshotDir(t, h)
}

func assertEmptySnapshotDir(t *testing.T, h *hutchImg) {
	t.Helper()
	d, _ := os.ReadFile(filepath.Join(h.root, "storage-driver"))
	dir := filepath.Join(h.root, strings.TrimSpace(string(d)), "snapshots")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("%s holds %v", dir, names)
	}
}

func TestImagesUnpackBadDiffID(t *testing.T) {
	reg := startRegistry(t)
	_, l1, _, _, l4 := testLayers(t)
	img := layeredImage(t, l1, l4)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()

	sum := sha256.Sum256([]byte("not this layer"))
	cfg.RootFS.DiffIDs[1] = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	pushImage(t, reg+"/test/liar:1", img)

	h := newImageRoot(t)
	_, errs, err := h.run("pull", reg+"/test/liar:1")
	if err == nil || !strings.Contains(errs, "does not match diff ID sha256:"+cfg.RootFS.DiffIDs[1].Hex) {
		t.Fatalf("pull of a lying image: %v\n%s", err, errs)
	}
	// The good bottom layer is there; nothing of the lying one.
	snaps := h.snapshots()
	if len(snaps) != 1 || snaps[cfg.RootFS.DiffIDs[0].String()] != snapshot.KindCommitted {
		t.Fatalf("snapshots after the refused layer: %v", snaps)
	}
	d, _ := os.ReadFile(filepath.Join(h.root, "storage-driver"))
	sdir := filepath.Join(h.root, strings.TrimSpace(string(d)), "snapshots")
	if ents, _ := os.ReadDir(sdir); len(ents) != 1 {
		t.Fatalf("%s holds %d entries, want the one good layer", sdir, len(ents))
	}
	// Removing the image removes the rest.
	h.ok("rmi", reg+"/test/liar:1")
	if snaps := h.snapshots(); len(snaps) != 0 {
		t.Fatalf("after rmi: %v", snaps)
	}
	assertEmptySnapshotDir(t, h)
}

// A layer that changes d/y without a d/ entry of its own must leave d as
// the lower layer has it (containerd copies the parent's metadata from the
// lowers; umoci applies onto the merged tree). In overlay a directory of
// the upper layer takes precedence over the lower's, so Apply gets the
// lower layers (archive.WithParentLayers) and makes the missing d as they
// show it: mode, owner, xattrs, mtime. Native gets its full tree as the
// one lower, and its merge keeps that.
func TestImagesUnpackImplicitParent(t *testing.T) {
	for _, driver := range []string{"overlay", "native"} {
		t.Run(driver, func(t *testing.T) {
			if driver == "overlay" {
				if err := overlay.Supported(t.TempDir()); err != nil {
					t.Skipf("overlay not supported here: %v", err)
				}
			}
			t.Setenv("HUTCH_STORAGE_DRIVER", driver)
			reg := startRegistry(t)
			lower := tarLayer(t, []entry{
				{name: "d/", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 1000, xattrs: map[string]string{"user.lower": "kept"}},
				{name: "d/x", body: "x"},
				{name: "e/", typ: tar.TypeDir, mode: 0o700, uid: 2000, gid: 2000},
				{name: "e/f/", typ: tar.TypeDir, mode: 0o750, uid: 3000, gid: 3000},
			})
			upper := tarLayer(t, []entry{
				{name: "d/y", body: "y"},
				{name: "e/f/g/z", body: "z"},
			})
			img := layeredImage(t, lower, upper)
			pushImage(t, reg+"/test/implicit:1", img)
			h := newImageRoot(t)
			h.ok("pull", reg+"/test/implicit:1")
			if d, _ := os.ReadFile(filepath.Join(h.root, "storage-driver")); strings.TrimSpace(string(d)) != driver {
				t.Fatalf("storage-driver = %q, want %s", d, driver)
			}
			dir, cleanup := h.view(topChainID(t, img))
			defer cleanup()
			got := scanTree(t, dir)
			for name, want := range map[string]string{
				"d":       "drwxr-x--- 1000:1000",
				"e":       "drwx------ 2000:2000",
				"e/f":     "drwxr-x--- 3000:3000",
				"e/f/g":   "drwxr-xr-x 0:0", // in no layer below: tar's default
				"d/x":     "-rw-r--r-- 0:0",
				"d/y":     "-rw-r--r-- 0:0",
				"e/f/g/z": "-rw-r--r-- 0:0",
			} {
				f, ok := got[name]
				if !ok || fmt.Sprintf("%v %d:%d", f.mode, f.uid, f.gid) != want {
					t.Errorf("%s: %v, want %s", name, f, want)
				}
			}
			if x := got["d"].xattrs; !strings.Contains(x, "user.lower") || strings.Contains(x, "overlay") {
				t.Errorf("d: xattrs %q, want the lower's user.lower only", x)
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(dir, "d"), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mtim.Sec != layerTime.Unix() {
				t.Errorf("d: mtime %v, want the lower's %v", time.Unix(st.Mtim.Sec, 0).UTC(), layerTime)
			}
		})
	}
}
