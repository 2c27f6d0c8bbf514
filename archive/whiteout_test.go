package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mountOverlay mounts an overlay of lowers (topmost first) with an optional
// upper at a new directory and unmounts it when the test ends.
func mountOverlay(t *testing.T, upper string, lowers ...string) string {
	t.Helper()
	base := t.TempDir()
	m := filepath.Join(base, "merged")
	os.Mkdir(m, 0o755)
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if upper != "" {
		work := filepath.Join(base, "work")
		os.Mkdir(work, 0o700)
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
		t.Skipf("overlay mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(m, unix.MNT_DETACH) })
	return m
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "/") {
			continue
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// lowerFiles is the tree below the whiteout layers.
var lowerFiles = map[string]string{
	"gone": "g", "dir/x": "x", "dir/sub/y": "y", "keep/old1": "1", "keep/sub/old2": "2",
	"same": "lower", "re/old": "o", "k2/old": "o", "stay": "s",
}

// whiteoutLayer deletes, empties and recreates paths of lowerFiles.
func whiteoutLayer(t *testing.T) []byte {
	return buildTar(t,
		reg(".wh.gone", ""),
		reg(".wh.dir", ""),
		dirE("keep/"), reg("keep/.wh..wh..opq", ""), reg("keep/new", "n"),
		reg("same", "layer"), reg(".wh.same", ""), // the layer's own entry wins
		reg(".wh.re", ""), dirE("re/"), reg("re/fresh", "f"), // deleted then remade
		dirE("k2/"), reg("k2/mine", "m"), reg("k2/.wh..wh..opq", ""), // marker after a child
		reg(".wh.never-existed", ""),
	)
}

// TestWhiteoutsOverlay: the overlay form of whiteouts, checked by reading
// the files and by mounting the layer over a lower as overlayfs would.
func TestWhiteoutsOverlay(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	lower := t.TempDir()
	writeFiles(t, lower, lowerFiles)
	layer := filepath.Join(t.TempDir(), "layer")
	if _, err := Apply(ctx, layer, bytes.NewReader(whiteoutLayer(t))); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	for _, p := range []string{"gone", "dir", "never-existed"} {
		if err := unix.Lstat(filepath.Join(layer, p), &st); err != nil || !isWhiteout(&st) {
			t.Errorf("%s: not a 0/0 character device (%v, mode %o rdev %d)", p, err, st.Mode, st.Rdev)
		}
	}
	for _, p := range []string{"keep", "re", "k2"} {
		if v, err := lgetxattr(filepath.Join(layer, p), "trusted.overlay.opaque"); err != nil || string(v) != "y" {
			t.Errorf("%s: trusted.overlay.opaque = %q, %v", p, v, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(layer, "same")); string(b) != "layer" {
		t.Errorf("same = %q", b)
	}

	merged := mountOverlay(t, "", layer, lower)
	got := listFiles(t, merged)
	want := "k2/ k2/mine keep/ keep/new re/ re/fresh same=layer stay"
	if got != want {
		t.Errorf("overlay view:\n got %s\nwant %s", got, want)
	}

	// The same layer applied onto the full tree gives the same view.
	tree := t.TempDir()
	writeFiles(t, tree, lowerFiles)
	if _, err := Apply(ctx, tree, bytes.NewReader(whiteoutLayer(t)), WithMerged()); err != nil {
		t.Fatal(err)
	}
	if got := listFiles(t, tree); got != want {
		t.Errorf("merged apply:\n got %s\nwant %s", got, want)
	}
}

// listFiles is a one-line listing of a tree: directories end in "/",
// files other than single letters show their content.
func listFiles(t *testing.T, dir string) string {
	var out []string
	for p, n := range scan(t, dir) {
		switch n.Type {
		case "dir":
			out = append(out, p+"/")
		case "file":
			b, _ := os.ReadFile(filepath.Join(dir, p))
			if len(b) > 1 {
				p += "=" + string(b)
			}
			out = append(out, p)
		default:
			out = append(out, p+"("+n.Type+")")
		}
	}
	sortStrings(out)
	return strings.Join(out, " ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestDiffOverlay: changes made in a real overlay mount come out of Diff of
// its upper as the right entries, and the diff applied on the lower (both
// ways) gives back the merged view.
func TestDiffOverlay(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	lower := t.TempDir()
	writeFiles(t, lower, map[string]string{
		"a": "a", "b": "b", "d1/x": "x", "d1/sub/x": "x", "d2/y": "y", "d3/z": "z", "d4/w": "w",
	})
	upper := t.TempDir()
	m := mountOverlay(t, upper, lower)
	sh := func(script string) {
		t.Helper()
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir = m
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	sh(`rm a; rm -r d1; rm -r d2; mkdir d2; echo new > d2/new; chmod 600 b;
		echo c > c; ln c c2; mkdir d3/sub; rm d4/w; mkfifo d3/fifo;
		setfattr -n user.k -v v c 2>/dev/null || python3 -c 'import os; os.setxattr("c", "user.k", b"v")'`)
	view := scan(t, m)
	if err := unix.Unmount(m, 0); err != nil {
		t.Fatal(err)
	}

	var diff bytes.Buffer
	if err := Diff(ctx, &diff, upper, lower); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(diff.Bytes()))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n := h.Name
		if h.Typeflag == tar.TypeLink {
			n += "->" + h.Linkname
		}
		if x := h.PAXRecords["SCHILY.xattr.user.k"]; x != "" {
			n += "[user.k=" + x + "]"
		}
		names = append(names, n)
	}
	// In the order of the names in the upper: .wh.d1 sorts as d1.
	want := ".wh.a b c[user.k=v] c2->c .wh.d1 d2/ d2/.wh..wh..opq d2/new d3/ d3/fifo d3/sub/ d4/ d4/.wh.w"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("diff entries:\n got %s\nwant %s", got, want)
	}

	var again bytes.Buffer
	if err := Diff(ctx, &again, upper); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(diff.Bytes()) != sha256.Sum256(again.Bytes()) {
		t.Error("two Diffs of the same upper differ")
	}

	// Applied onto a copy of the lower, the diff gives the merged view.
	tree := t.TempDir()
	if err := exec.Command("cp", "-a", lower+"/.", tree).Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, tree, bytes.NewReader(diff.Bytes()), WithMerged()); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, view, scan(t, tree))

	// As an overlay lower layer over the lower, too.
	layer := filepath.Join(t.TempDir(), "layer")
	if _, err := Apply(ctx, layer, bytes.NewReader(diff.Bytes())); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, view, scan(t, mountOverlay(t, "", layer, lower)))
}
