package image

import (
	"encoding/json"
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"hutch.dev/hutch/errdefs"
)

// The decoders below are the only way the store turns bytes from a
// registry, a layout or an archive into manifests, indexes and configs.
// go-containerregistry's parsers check the JSON and the spelling of every
// digest that is present; these add what the store relies on: digests that
// are present (a missing one decodes as the zero Hash), sha256, sizes that
// are not negative, and the right kind of document. They use
// json.Unmarshal rather than go-containerregistry's Parse* (a json.Decoder),
// so trailing bytes after the document are refused, and "null" is too.

// ParseManifest decodes an image manifest (OCI or Docker schema 2). A
// manifest of another schema version is NotImplemented; anything else
// wrong is InvalidArgument.
func ParseManifest(raw []byte) (*v1.Manifest, error) {
	var m *v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errdefs.InvalidArgument("manifest: %v", decodeErr(err))
	}
	if m.SchemaVersion != 2 {
		return nil, errdefs.NotImplemented("manifest: schema version %d is not supported", m.SchemaVersion)
	}
	switch m.MediaType {
	case "", types.OCIManifestSchema1, types.DockerManifestSchema2:
	default:
		return nil, errdefs.InvalidArgument("manifest: media type %q is not an image manifest", m.MediaType)
	}
	if err := checkDescriptor("config", m.Config); err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		if err := checkDescriptor("layer", l); err != nil {
			return nil, errdefs.InvalidArgument("layer %d: %v", i+1, err)
		}
	}
	return m, nil
}

// ParseIndex decodes an OCI image index or a Docker manifest list.
func ParseIndex(raw []byte) (*v1.IndexManifest, error) {
	var im *v1.IndexManifest
	if err := json.Unmarshal(raw, &im); err != nil || im == nil {
		return nil, errdefs.InvalidArgument("index: %v", decodeErr(err))
	}
	if im.SchemaVersion != 2 {
		return nil, errdefs.NotImplemented("index: schema version %d is not supported", im.SchemaVersion)
	}
	switch im.MediaType {
	case "", types.OCIImageIndex, types.DockerManifestList:
	default:
		return nil, errdefs.InvalidArgument("index: media type %q is not an index", im.MediaType)
	}
	for i, d := range im.Manifests {
		if err := checkDescriptor("manifest", d); err != nil {
			return nil, errdefs.InvalidArgument("index entry %d: %v", i+1, err)
		}
	}
	return im, nil
}

// ParseConfig decodes an image config. Its diff IDs must be sha256
// digests; how many there must be is the caller's to check against the
// manifest's layers.
func ParseConfig(raw []byte) (*v1.ConfigFile, error) {
	var cfg *v1.ConfigFile
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg == nil {
		return nil, errdefs.InvalidArgument("config: %v", decodeErr(err))
	}
	for i, d := range cfg.RootFS.DiffIDs {
		if d.Algorithm != "sha256" {
			return nil, errdefs.InvalidArgument("config: diff ID %d: %q is not a sha256 digest", i+1, d.String())
		}
	}
	return cfg, nil
}

// decodeErr spells the error of a document that did not decode.
func decodeErr(err error) error {
	if err == nil {
		return errors.New("null document")
	}
	return err
}

func checkDescriptor(what string, d v1.Descriptor) error {
	if d.Digest.Algorithm == "" {
		return errdefs.InvalidArgument("%s: no digest", what)
	}
	if d.Digest.Algorithm != "sha256" {
		return errdefs.InvalidArgument("%s: digest %s is not sha256", what, d.Digest)
	}
	if d.Size < 0 {
		return errdefs.InvalidArgument("%s %s: negative size %d", what, d.Digest, d.Size)
	}
	return nil
}
