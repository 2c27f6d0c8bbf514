package registry

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
)

// FuzzChoose: an index from a registry, decoded as Pull decodes it, and a
// platform chosen from it: no panic, and what is chosen is an entry of the
// index with a platform; a refusal is NotFound.
func FuzzChoose(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":528,"digest":"sha256:023917ec6a886d0e8e15f28fb543515a5fcd8d938edb091e8147db4efed388ee","platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":528,"digest":"sha256:87e8a1f2ea7a3e7c8fd9d8b4b1e5d1e8f1f6e9a5a0e0c9bb3e4cbb0f33d3e5b2","platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}`), "linux/arm64/v8")
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:023917ec6a886d0e8e15f28fb543515a5fcd8d938edb091e8147db4efed388ee","size":1,"platform":{"architecture":"arm64","os":"linux"}},{"digest":"sha256:023917ec6a886d0e8e15f28fb543515a5fcd8d938edb091e8147db4efed388ee","size":1}]}`), "linux/arm64/v8")
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:023917ec6a886d0e8e15f28fb543515a5fcd8d938edb091e8147db4efed388ee","size":1,"platform":{"architecture":"amd64","os":"linux","os.features":["x"],"features":["y"]}}]}`), "linux/amd64")
	f.Add([]byte(`{"schemaVersion":2,"manifests":[]}`), "windows/amd64")
	f.Fuzz(func(t *testing.T, raw []byte, platform string) {
		im, err := image.ParseIndex(raw)
		if err != nil {
			return
		}
		want, err := v1.ParsePlatform(platform)
		if err != nil || want == nil {
			want = &v1.Platform{OS: "linux", Architecture: "amd64"}
		}
		d, err := choose(im, *want)
		if err != nil {
			if !errdefs.IsNotFound(err) {
				t.Fatalf("choose: unclassified error %v", err)
			}
			return
		}
		if d.Platform == nil {
			t.Fatalf("chose an entry without a platform: %+v", d)
		}
		for _, m := range im.Manifests {
			if m.Digest == d.Digest && m.Platform == d.Platform {
				return
			}
		}
		t.Fatalf("chose %+v, not an entry of the index", d)
	})
}
