package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"hutch.dev/hutch/errdefs"
)

// Image is a stored image: its index record, manifest and config. It is a
// value read at one moment; the store may change after.
type Image struct {
	Record
	// ID is the config's digest, Docker's image ID.
	ID digest.Digest
	// Manifest and Config are the decoded manifest and config.
	Manifest *v1.Manifest
	Config   *v1.ConfigFile
	// RawManifest and RawConfig are their exact bytes.
	RawManifest []byte
	RawConfig   []byte

	store *Store
}

// Layer is one layer of an image, bottom first.
type Layer struct {
	// Descriptor of the (usually compressed) blob in the content store.
	Descriptor v1.Descriptor
	// DiffID is the digest of the uncompressed tar.
	DiffID digest.Digest
	// ChainID names the stack of this layer and all below it (OCI image
	// spec, config.md "Layer ChainID"): an unpacked snapshot key.
	ChainID digest.Digest
}

func (s *Store) manifest(d digest.Digest) (*v1.Manifest, error) {
	raw, err := s.content.Get(d)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d, err)
	}
	return m, nil
}

func (s *Store) configDigest(d digest.Digest) (digest.Digest, error) {
	m, err := s.manifest(d)
	if err != nil {
		return "", err
	}
	return digest.Digest(m.Config.Digest.String()), nil
}

func (s *Store) load(r *Record) (*Image, error) {
	img := &Image{Record: *r, store: s}
	var err error
	if img.RawManifest, err = s.content.Get(r.Digest); err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", r.Digest, err)
	}
	if img.Manifest, err = ParseManifest(img.RawManifest); err != nil {
		return nil, fmt.Errorf("image %s: %w", r.Digest, err)
	}
	img.ID = digest.Digest(img.Manifest.Config.Digest.String())
	if img.RawConfig, err = s.content.Get(img.ID); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", r.Digest, err)
	}
	if img.Config, err = ParseConfig(img.RawConfig); err != nil {
		return nil, fmt.Errorf("image %s: %w", r.Digest, err)
	}
	if len(img.Config.RootFS.DiffIDs) != len(img.Manifest.Layers) {
		return nil, errdefs.InvalidArgument("image %s: config has %d diff IDs for %d layers", r.Digest, len(img.Config.RootFS.DiffIDs), len(img.Manifest.Layers))
	}
	return img, nil
}

// Layers returns the image's layers, bottom first, with diff and chain IDs.
func (img *Image) Layers() []Layer {
	diffIDs := make([]digest.Digest, len(img.Config.RootFS.DiffIDs))
	for i, d := range img.Config.RootFS.DiffIDs {
		diffIDs[i] = digest.Digest(d.String())
	}
	chain := ChainIDs(diffIDs)
	out := make([]Layer, len(img.Manifest.Layers))
	for i, l := range img.Manifest.Layers {
		out[i] = Layer{Descriptor: l, DiffID: diffIDs[i], ChainID: chain[i]}
	}
	return out
}

// ChainID is the chain ID of the whole layer stack ("" for no layers).
func (img *Image) ChainID() digest.Digest {
	ls := img.Layers()
	if len(ls) == 0 {
		return ""
	}
	return ls[len(ls)-1].ChainID
}

// Size is the total size of the image's blobs (manifest, config and
// compressed layers) as stored.
func (img *Image) Size() int64 {
	n := int64(len(img.RawManifest)) + int64(len(img.RawConfig))
	for _, l := range img.Manifest.Layers {
		n += l.Size
	}
	return n
}

// MediaType is the manifest's media type (OCI or Docker schema 2).
func (img *Image) MediaType() types.MediaType {
	if img.Manifest.MediaType != "" {
		return img.Manifest.MediaType
	}
	return types.OCIManifestSchema1
}

// OpenLayer returns the stored (compressed) blob of layer l.
func (img *Image) OpenLayer(l Layer) (io.ReadCloser, error) {
	return img.store.content.Open(digest.Digest(l.Descriptor.Digest.String()))
}

// UncompressedLayer returns layer l as a plain tar stream (gzip and zstd
// are undone).
func (img *Image) UncompressedLayer(l Layer) (io.ReadCloser, error) {
	v, err := img.V1()
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(l.Descriptor.Digest.String())
	if err != nil {
		return nil, err
	}
	vl, err := v.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return vl.Uncompressed()
}

// ChainIDs computes the chain ID of each layer stack from the diff IDs:
// ChainID(L0) = DiffID(L0), ChainID(L0|..|Ln) = sha256(ChainID(L0|..|Ln-1) + " " + DiffID(Ln)).
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(string(out[i-1]) + " " + string(d)))
		out[i] = digest.Digest("sha256:" + hex.EncodeToString(sum[:]))
	}
	return out
}

// V1 is the image as a go-containerregistry v1.Image reading from the
// store, with the manifest and config bytes unchanged (so its digest is
// the stored one): what push and save write out.
func (img *Image) V1() (v1.Image, error) {
	return partial.CompressedToImage(&storedImage{img: img})
}

type storedImage struct{ img *Image }

func (s *storedImage) RawConfigFile() ([]byte, error) { return s.img.RawConfig, nil }
func (s *storedImage) MediaType() (types.MediaType, error) {
	return s.img.MediaType(), nil
}
func (s *storedImage) RawManifest() ([]byte, error) { return s.img.RawManifest, nil }

func (s *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == s.img.Manifest.Config.Digest {
		return &storedBlob{s: s.img.store, desc: s.img.Manifest.Config}, nil
	}
	for _, l := range s.img.Manifest.Layers {
		if l.Digest == h {
			return &storedBlob{s: s.img.store, desc: l}, nil
		}
	}
	return nil, errdefs.NotFound("image %s: layer %s: not found", s.img.Digest, h)
}

type storedBlob struct {
	s    *Store
	desc v1.Descriptor
}

func (b *storedBlob) Digest() (v1.Hash, error) { return b.desc.Digest, nil }
func (b *storedBlob) Size() (int64, error)     { return b.desc.Size, nil }
func (b *storedBlob) MediaType() (types.MediaType, error) {
	return b.desc.MediaType, nil
}
func (b *storedBlob) Compressed() (io.ReadCloser, error) {
	return b.s.content.Open(digest.Digest(b.desc.Digest.String()))
}
