package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"hutch.dev/hutch/errdefs"
)

// LayerOpener opens one layer's tar stream: plain, gzip or zstd (detected
// by its magic bytes).
type LayerOpener func() (io.ReadCloser, error)

// BuildOptions describe an image to assemble from layer tars.
type BuildOptions struct {
	// RawConfig is a config to keep byte for byte (the image ID stays the
	// same): its diff IDs must match the layers. Otherwise Config is used,
	// with its diff IDs filled in from the layers.
	RawConfig []byte
	Config    *v1.ConfigFile
	Layers    []LayerOpener
	// Docker selects Docker schema 2 media types (what `docker load`
	// then `docker push` would give); OCI otherwise.
	Docker   bool
	Names    []string
	Progress ProgressFunc
}

// Build stores an image made of o.Layers: each layer is compressed with
// gzip into the store (hashing both the plain tar for the diff ID and the
// gzip stream for the blob digest in the same pass), then the config and
// a manifest are written and the image recorded.
func (s *Store) Build(ctx context.Context, o BuildOptions) (*Image, error) {
	if o.Progress == nil {
		o.Progress = func(Progress) {}
	}
	names := make([]string, 0, len(o.Names))
	for _, n := range o.Names {
		full, err := normalizeTag(n)
		if err != nil {
			return nil, err
		}
		names = append(names, full)
	}
	gl, _, err := s.gcLock(lockShared)
	if err != nil {
		return nil, err
	}
	defer gl.Unlock()

	layerType, configType, manifestType := types.OCILayer, types.OCIConfigJSON, types.OCIManifestSchema1
	if o.Docker {
		layerType, configType, manifestType = types.DockerLayer, types.DockerConfigJSON, types.DockerManifestSchema2
	}
	descs := make([]v1.Descriptor, len(o.Layers))
	diffIDs := make([]v1.Hash, len(o.Layers))
	errs := make([]error, len(o.Layers))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, open := range o.Layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			descs[i], diffIDs[i], errs[i] = s.storeLayer(ctx, open, o.Progress)
			descs[i].MediaType = layerType
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
	}

	raw := o.RawConfig
	if raw != nil {
		cfg, err := ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		if len(cfg.RootFS.DiffIDs) != len(diffIDs) {
			return nil, errdefs.InvalidArgument("config: %d diff IDs for %d layers", len(cfg.RootFS.DiffIDs), len(diffIDs))
		}
		for i := range diffIDs {
			if cfg.RootFS.DiffIDs[i] != diffIDs[i] {
				return nil, errdefs.InvalidArgument("layer %d: content hashes to %s, the config says %s", i+1, diffIDs[i], cfg.RootFS.DiffIDs[i])
			}
		}
	} else {
		cfg := o.Config
		if cfg == nil {
			cfg = &v1.ConfigFile{}
		}
		cfg = cfg.DeepCopy()
		cfg.RootFS = v1.RootFS{Type: "layers", DiffIDs: diffIDs}
		if raw, err = json.Marshal(cfg); err != nil {
			return nil, err
		}
	}
	cd, err := s.content.WriteBlob(ctx, bytes.NewReader(raw), "", int64(len(raw)))
	if err != nil {
		return nil, err
	}
	ch, _ := v1.NewHash(cd.String())
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     manifestType,
		Config:        v1.Descriptor{MediaType: configType, Size: int64(len(raw)), Digest: ch},
		Layers:        descs,
	}
	mraw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	md, err := s.content.WriteBlob(ctx, bytes.NewReader(mraw), "", int64(len(mraw)))
	if err != nil {
		return nil, err
	}
	rec, err := s.add(Record{Digest: md, Names: names})
	if err != nil {
		return nil, err
	}
	return s.load(rec)
}

func (s *Store) storeLayer(ctx context.Context, open LayerOpener, progress ProgressFunc) (v1.Descriptor, v1.Hash, error) {
	rc, err := open()
	if err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	defer rc.Close()
	plain, err := Decompress(rc)
	if err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	defer plain.Close()
	w, err := s.content.Writer("", -1)
	if err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	defer w.Close()
	bw := bufio.NewWriterSize(w, 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.DefaultCompression)
	diff := sha256.New()
	if _, err := io.Copy(io.MultiWriter(zw, diff), ctxReader{ctx, plain}); err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	if err := zw.Close(); err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	if err := bw.Flush(); err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	size := w.Offset()
	d, err := w.Commit()
	if err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	progress(Progress{Kind: "blob", Digest: d, Size: size, Done: size, Status: Done})
	h, _ := v1.NewHash(d.String())
	diffID := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", diff.Sum(nil))}
	return v1.Descriptor{Digest: h, Size: size}, diffID, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Decompress returns r's content with gzip or zstd undone (by magic bytes);
// anything else is returned as is.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}
