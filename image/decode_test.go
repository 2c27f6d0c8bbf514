package image

import (
	"encoding/json"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"hutch.dev/hutch/errdefs"
)

// Seeds: documents as registries serve them (busybox and alpine on Docker
// Hub, an OCI layout written by umoci), plus near misses.
var (
	seedDockerManifest = `{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1457,
      "digest": "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 2220094,
         "digest": "sha256:3f4d90098f5b5a6f6a76e9d217da85aa39b2081e30fa1f7d287138d6e7bf0ad7"
      }
   ]
}`
	seedOCIManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e7d92cdc71feacf90708cb59182d0df1b911f8ae022d29e8e95d75ca6a99776a","size":581},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:c6a83fedfae6ed8a4f5f7cbb6a7b6f1c1ec3d86fea8cb9e5ba2e58e43853e3c0","size":3623807},{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"sha256:1cfb0b4b7e3a4b3e3c0b2f0a3e6d3c3f0b7c1e6e4d1b1a0a8f6f3e2d1c0b9a8f","size":32,"annotations":{"a":"b"}}],"annotations":{"org.opencontainers.image.ref.name":"v1"}}`
	seedIndex       = `{
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
  "manifests": [
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528, "digest": "sha256:023917ec6a886d0e8e15f28fb543515a5fcd8d938edb091e8147db4efed388ee", "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528, "digest": "sha256:1fa89c01cd0473cedbd1a470abb8c139eeb80920edf1bc55de87851bfb63ea11", "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528, "digest": "sha256:87e8a1f2ea7a3e7c8fd9d8b4b1e5d1e8f1f6e9a5a0e0c9bb3e4cbb0f33d3e5b2", "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
  ]
}`
	seedOCIIndex = `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e7d92cdc71feacf90708cb59182d0df1b911f8ae022d29e8e95d75ca6a99776a","size":1024,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}`
	seedConfig   = `{"architecture":"amd64","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/","Labels":{"a":"b"},"ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}}},"created":"2023-05-18T22:34:17.202138547Z","history":[{"created":"2023-05-18T22:34:17.08149079Z","created_by":"/bin/sh -c #(nop) ADD file:c1f3b4c5a7ea9a5e3c3e2a7b4f3a7b1c0f6e5e9a4d9b2e7b2a5f1e2c3a4b5c6d in / "},{"created":"2023-05-18T22:34:17.202138547Z","created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:9547b4c33213e630a0ca602a989ecc094e042146ae8afa502e1e65af6473db03"]}}`
)

func addSeeds(f *testing.F, docs ...string) {
	for _, d := range docs {
		f.Add([]byte(d))
	}
	for _, d := range []string{
		"", "null", "{}", "[]", `"x"`, "{", `{"schemaVersion":1}`,
		`{"schemaVersion":2}`,
		`{"schemaVersion":2,"config":{"digest":"sha256:00"}}`,
		`{"schemaVersion":2,"config":{"digest":"md5:d41d8cd98f00b204e9800998ecf8427e"}}`,
		`{"schemaVersion":2,"config":{"digest":"sha256:e7d92cdc71feacf90708cb59182d0df1b911f8ae022d29e8e95d75ca6a99776a","size":-1}}`,
		`{"schemaVersion":2,"manifests":[{}]}`,
		`{"rootfs":{"diff_ids":["sha512:00"]}}`,
		seedOCIManifest + "garbage",
	} {
		f.Add([]byte(d))
	}
}

// classified: every refusal is InvalidArgument or NotImplemented, and a
// document that is not valid JSON is always refused.
func checkRefusal(t *testing.T, raw []byte, err error) {
	t.Helper()
	if err != nil {
		if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) {
			t.Fatalf("%q: unclassified error %v", raw, err)
		}
		return
	}
	if !json.Valid(raw) {
		t.Fatalf("%q: not JSON, accepted", raw)
	}
}

func checkDesc(t *testing.T, raw []byte, d v1.Descriptor) {
	t.Helper()
	if err := digest.Digest(d.Digest.String()).Validate(); err != nil || d.Digest.Algorithm != "sha256" {
		t.Fatalf("%q: accepted with digest %q (%v)", raw, d.Digest, err)
	}
	if d.Size < 0 {
		t.Fatalf("%q: accepted with size %d", raw, d.Size)
	}
}

func FuzzParseManifest(f *testing.F) {
	addSeeds(f, seedDockerManifest, seedOCIManifest, seedIndex)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ParseManifest(raw)
		checkRefusal(t, raw, err)
		if err != nil {
			return
		}
		if m.SchemaVersion != 2 {
			t.Fatalf("%q: accepted schema version %d", raw, m.SchemaVersion)
		}
		checkDesc(t, raw, m.Config)
		for _, l := range m.Layers {
			checkDesc(t, raw, l)
		}
		// What the store writes back (push, save) decodes the same.
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseManifest(again); err != nil {
			t.Fatalf("%q: re-encoded %q refused: %v", raw, again, err)
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	addSeeds(f, seedIndex, seedOCIIndex, seedDockerManifest)
	f.Fuzz(func(t *testing.T, raw []byte) {
		im, err := ParseIndex(raw)
		checkRefusal(t, raw, err)
		if err != nil {
			return
		}
		if im.SchemaVersion != 2 {
			t.Fatalf("%q: accepted schema version %d", raw, im.SchemaVersion)
		}
		for _, d := range im.Manifests {
			checkDesc(t, raw, d)
			if d.Platform != nil {
				_ = d.Platform.String()
				_ = d.Platform.Satisfies(v1.Platform{OS: "linux", Architecture: "amd64"})
			}
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	addSeeds(f, seedConfig, seedDockerManifest)
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := ParseConfig(raw)
		checkRefusal(t, raw, err)
		if err != nil {
			return
		}
		diffIDs := make([]digest.Digest, len(cfg.RootFS.DiffIDs))
		for i, d := range cfg.RootFS.DiffIDs {
			diffIDs[i] = digest.Digest(d.String())
			if err := diffIDs[i].Validate(); err != nil {
				t.Fatalf("%q: accepted diff ID %q: %v", raw, d, err)
			}
		}
		// Chain IDs of whatever was accepted are well formed.
		for _, c := range ChainIDs(diffIDs) {
			if err := c.Validate(); err != nil {
				t.Fatalf("%q: chain ID %q: %v", raw, c, err)
			}
		}
	})
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func([]byte) error
		raw  string
		kind func(error) bool
	}{
		{"trailing bytes", func(b []byte) error { _, err := ParseManifest(b); return err }, seedOCIManifest + "x", errdefs.IsInvalidArgument},
		{"no config digest", func(b []byte) error { _, err := ParseManifest(b); return err }, `{"schemaVersion":2,"layers":[]}`, errdefs.IsInvalidArgument},
		{"schema 1", func(b []byte) error { _, err := ParseManifest(b); return err }, `{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}`, errdefs.IsNotImplemented},
		{"index as manifest", func(b []byte) error { _, err := ParseManifest(b); return err }, seedIndex, errdefs.IsInvalidArgument},
		{"manifest as index", func(b []byte) error { _, err := ParseIndex(b); return err }, seedDockerManifest, errdefs.IsInvalidArgument},
		{"index entry without digest", func(b []byte) error { _, err := ParseIndex(b); return err }, `{"schemaVersion":2,"manifests":[{"size":1}]}`, errdefs.IsInvalidArgument},
		{"null config", func(b []byte) error { _, err := ParseConfig(b); return err }, `null`, errdefs.IsInvalidArgument},
		{"bad diff ID", func(b []byte) error { _, err := ParseConfig(b); return err }, `{"rootfs":{"type":"layers","diff_ids":["sha256:12"]}}`, errdefs.IsInvalidArgument},
	} {
		if err := tc.fn([]byte(tc.raw)); err == nil || !tc.kind(err) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	for _, raw := range []string{seedDockerManifest, seedOCIManifest} {
		if _, err := ParseManifest([]byte(raw)); err != nil {
			t.Errorf("manifest seed refused: %v", err)
		}
	}
	for _, raw := range []string{seedIndex, seedOCIIndex} {
		if _, err := ParseIndex([]byte(raw)); err != nil {
			t.Errorf("index seed refused: %v", err)
		}
	}
	if _, err := ParseConfig([]byte(seedConfig)); err != nil {
		t.Errorf("config seed refused: %v", err)
	}
}
