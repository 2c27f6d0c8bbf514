package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image/content"
)

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for n, c := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg})
		tw.Write([]byte(c))
	}
	tw.Close()
	return b.Bytes()
}

func opener(b []byte) LayerOpener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func TestChainIDs(t *testing.T) {
	a := digest.FromString("a")
	b := digest.FromString("b")
	c := digest.FromString("c")
	got := ChainIDs([]digest.Digest{a, b, c})
	ab := digest.FromString(string(a) + " " + string(b))
	abc := digest.FromString(string(ab) + " " + string(c))
	if got[0] != a || got[1] != ab || got[2] != abc {
		t.Fatalf("ChainIDs = %v", got)
	}
}

func build(t *testing.T, s *Store, name string, layers ...[]byte) *Image {
	t.Helper()
	var ls []LayerOpener
	for _, l := range layers {
		ls = append(ls, opener(l))
	}
	img, err := s.Build(context.Background(), BuildOptions{
		Config: &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: v1.Config{Cmd: []string{"sh"}}},
		Layers: ls, Names: []string{name},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestBuildTagRemoveGC(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	base := tarOf(t, map[string]string{"etc/base": "base"})
	top1 := tarOf(t, map[string]string{"one": "1"})
	top2 := tarOf(t, map[string]string{"two": "2"})
	a := build(t, s, "a", base, top1)
	b := build(t, s, "localhost:5000/b:1", base, top2)
	if a.Layers()[0].Descriptor.Digest != b.Layers()[0].Descriptor.Digest {
		t.Fatal("equal layers stored as different blobs")
	}
	if a.Layers()[0].DiffID != digest.FromBytes(base) || a.Layers()[0].ChainID != a.Layers()[0].DiffID {
		t.Fatalf("diff ID %s, want %s", a.Layers()[0].DiffID, digest.FromBytes(base))
	}
	if a.Names[0] != "docker.io/library/a:latest" {
		t.Fatalf("name %q", a.Names[0])
	}
	got, err := s.Get(a.ID.Encoded()[:12])
	if err != nil || got.Digest != a.Digest {
		t.Fatalf("Get by short ID: %v", err)
	}
	if _, err := s.Get("nope:1"); !errdefs.IsNotFound(err) || err.Error() != `image "nope:1": not found` {
		t.Fatalf("Get of a missing image: %v", err)
	}
	// Tag, then removing by ID is refused while two names share it.
	if err := s.Tag("a", "a:2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(a.ID.String(), false); !errdefs.IsConflict(err) {
		t.Fatalf("rmi by ID of a twice-named image: %v", err)
	}
	res, err := s.Remove("a", false)
	if err != nil || len(res.Deleted) != 0 || res.Untagged[0] != "docker.io/library/a:latest" {
		t.Fatalf("rmi a = %+v, %v", res, err)
	}
	res, err = s.Remove("a:2", false)
	if err != nil || len(res.Deleted) != 1 {
		t.Fatalf("rmi a:2 = %+v, %v", res, err)
	}
	// The shared base layer stays for b; a's own layer is gone.
	c := s.Content()
	if !c.Has(digest.Digest(b.Layers()[0].Descriptor.Digest.String())) {
		t.Fatal("a layer still used by b was removed")
	}
	if c.Has(digest.Digest(a.Layers()[1].Descriptor.Digest.String())) || c.Has(a.Digest) || c.Has(a.ID) {
		t.Fatal("a's own blobs were kept")
	}
	// Re-pointing b's name leaves the old image dangling; prune removes it.
	build(t, s, "localhost:5000/b:1", top2)
	imgs, _ := s.Images()
	if len(imgs) != 2 || !imgs[1].Dangling() {
		t.Fatalf("after re-tag: %d images", len(imgs))
	}
	pr, _, err := s.Prune(false)
	if err != nil || len(pr.Deleted) != 1 {
		t.Fatalf("prune = %+v, %v", pr, err)
	}
	if err := c.Walk(func(i content.Info) error { return c.Verify(i.Digest) }); err != nil {
		t.Fatal(err)
	}
}
