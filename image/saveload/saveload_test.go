package saveload

import (
	"archive/tar"
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"hutch.dev/hutch/image"
	"hutch.dev/hutch/image/content"
)

func rootfsTar() []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/hello", Typeflag: tar.TypeReg, Mode: 0o755, Size: 5})
	tw.Write([]byte("hello"))
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "hello"})
	tw.Close()
	return b.Bytes()
}

func open(t *testing.T) *image.Store {
	s, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verify(t *testing.T, s *image.Store) {
	c := s.Content()
	if err := c.Walk(func(i content.Info) error { return c.Verify(i.Digest) }); err != nil {
		t.Fatal(err)
	}
}

func TestImportSaveLoad(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	img, err := Import(ctx, s, bytes.NewReader(rootfsTar()), ImportOptions{Name: "localhost/mine:1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers()) != 1 || img.Names[0] != "localhost/mine:1" {
		t.Fatalf("imported %+v", img.Record)
	}
	dir := t.TempDir()
	for _, f := range []Format{DockerArchive, OCIArchive, OCIDir} {
		dst := filepath.Join(dir, string(f))
		if err := Save(ctx, s, dst, f, []string{"localhost/mine:1"}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s2 := open(t)
		got, err := Load(ctx, s2, dst, LoadOptions{})
		if err != nil {
			t.Fatalf("%s: load: %v", f, err)
		}
		if len(got) != 1 || got[0].ID != img.ID || len(got[0].Names) != 1 || got[0].Names[0] != "localhost/mine:1" {
			t.Fatalf("%s: loaded %+v (ID %s), want ID %s", f, got[0].Record, got[0].ID, img.ID)
		}
		if f != DockerArchive && got[0].Digest != img.Digest {
			t.Fatalf("%s: manifest digest changed: %s -> %s", f, img.Digest, got[0].Digest)
		}
		verify(t, s2)
	}
	// The docker-archive is readable by go-containerregistry's reader too.
	tag, _ := name.NewTag("localhost/mine:1")
	v, err := tarball.ImageFromPath(filepath.Join(dir, string(DockerArchive)), &tag)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := v.ConfigName(); id.String() != img.ID.String() {
		t.Fatalf("tarball reader sees config %s", id)
	}
}

func TestLoadForeignDockerArchive(t *testing.T) {
	r, _ := random.Image(2048, 2)
	file := filepath.Join(t.TempDir(), "x.tar")
	tag, _ := name.NewTag("example.com/x/y:7")
	if err := tarball.WriteToFile(file, tag, r); err != nil {
		t.Fatal(err)
	}
	s := open(t)
	imgs, err := Load(context.Background(), s, file, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.ConfigName()
	if imgs[0].ID.String() != want.String() || imgs[0].Names[0] != "example.com/x/y:7" {
		t.Fatalf("loaded %s %v", imgs[0].ID, imgs[0].Names)
	}
	verify(t, s)
}
