package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"hutch.dev/hutch/archive"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
	"hutch.dev/hutch/image/unpack"
	"hutch.dev/hutch/internal/imagechange"
	"hutch.dev/hutch/runtime"
)

// CommitOptions are `hutch commit`'s flags.
type CommitOptions struct {
	// Name is REPO[:TAG] for the new image ("" leaves it untagged).
	Name    string
	Message string
	Author  string
	// Changes are Dockerfile instructions (-c) applied to the config.
	Changes []string
	// Pause freezes a running container while its layer is read, so the
	// layer is one moment of it (Docker's default).
	Pause bool
}

// Commit makes a new image of the container ref: its image's layers, one
// more layer with what the container changed (archive.Diff of the writable
// layer: whiteouts for deletions, opaque markers for replaced
// directories), and the container's config (Cmd, Entrypoint, Env, User,
// WorkingDir, Labels, ports, volumes, stop signal, healthcheck) with
// o.Changes applied on top, as Docker's commit does. The new image is
// unpacked at once, so a run of it starts without work.
func (e *Engine) Commit(ctx context.Context, ref string, o CommitOptions) (*image.Image, error) {
	// Check the changes before anything is written.
	var probe v1.Config
	for _, c := range o.Changes {
		if err := imagechange.Apply(&probe, c); err != nil {
			return nil, err
		}
	}
	var img *image.Image
	err := e.withLayer(ctx, ref, func(r *record, l *layerDirs) error {
		base, err := e.images.Get(r.ImageID)
		if err != nil {
			return wrap(&r.Container, "commit: its image", err)
		}
		if r.State.Running && o.Pause {
			if rc, err := e.loadRuntime(r.ID); err == nil && rc.Status() == runtime.StatusRunning {
				if err := rc.Pause(); err != nil {
					return wrap(&r.Container, "commit: pause", err)
				}
				defer rc.Resume()
			}
		}
		layer, err := e.writeLayer(ctx, r, l)
		if err != nil {
			return wrap(&r.Container, "commit", err)
		}
		defer os.Remove(layer.path)
		img, err = e.putCommit(ctx, r, base, layer, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := unpack.Unpack(ctx, e.images, e.sn, img); err != nil {
		return img, fmt.Errorf("image %s: unpack: %w", img.ID, err)
	}
	return img, nil
}

// layerFile is a gzip-compressed layer tar in a temporary file.
type layerFile struct {
	path   string
	digest v1.Hash // of the compressed file
	diffID v1.Hash // of the tar
	size   int64
}

// writeLayer writes the container's changes as a gzip layer into a
// temporary file under the root, hashing the tar and the file on the way.
func (e *Engine) writeLayer(ctx context.Context, r *record, l *layerDirs) (*layerFile, error) {
	f, err := os.CreateTemp(e.Root, ".commit-*.tar.gz")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		f.Close()
		if !ok {
			os.Remove(f.Name())
		}
	}()
	zh, th := sha256.New(), sha256.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(f, zh), gzip.DefaultCompression)
	w := io.MultiWriter(zw, th)
	if l.tree != "" {
		err = e.nativeDiff(ctx, r, l, w)
	} else {
		err = archive.Diff(ctx, w, l.upper, l.lowers...)
	}
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	ok = true
	return &layerFile{
		path:   f.Name(),
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(zh.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(th.Sum(nil))},
		size:   st.Size(),
	}, nil
}

// putCommit stores base + layer as a new image with the container's
// config: the layer and config go in through image.Store.Put, which takes
// the store's GC lock and skips the base layers it already holds.
func (e *Engine) putCommit(ctx context.Context, r *record, base *image.Image, layer *layerFile, o CommitOptions) (*image.Image, error) {
	now := time.Now().UTC()
	cfg := base.Config.DeepCopy()
	cfg.Config = imageConfigOf(&r.Config)
	for _, c := range o.Changes {
		if err := imagechange.Apply(&cfg.Config, c); err != nil {
			return nil, err
		}
	}
	cfg.Created = v1.Time{Time: now}
	cfg.Author = o.Author
	cfg.Container = r.ID
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, layer.diffID)
	cfg.History = append(cfg.History, v1.History{
		Created:   v1.Time{Time: now},
		CreatedBy: strings.Join(append(append([]string(nil), r.Config.Entrypoint...), r.Config.Cmd...), " "),
		Author:    o.Author,
		Comment:   o.Message,
	})
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgHash := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(rawCfg))}

	m := *base.Manifest
	layerType, cfgType := types.OCILayer, types.OCIConfigJSON
	if m.MediaType == types.DockerManifestSchema2 {
		layerType, cfgType = types.DockerLayer, types.DockerConfigJSON
	}
	m.Config = v1.Descriptor{MediaType: cfgType, Size: int64(len(rawCfg)), Digest: cfgHash}
	m.Layers = append(append([]v1.Descriptor(nil), m.Layers...), v1.Descriptor{MediaType: layerType, Size: layer.size, Digest: layer.digest})
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var names []string
	if o.Name != "" {
		names = []string{o.Name}
	}
	return e.images.Put(ctx, image.PutOptions{
		Manifest: rawManifest,
		Names:    names,
		Fetch: func(ctx context.Context, d v1.Descriptor, _ int64) (io.ReadCloser, bool, error) {
			switch d.Digest {
			case layer.digest:
				f, err := os.Open(layer.path)
				return f, false, err
			case cfgHash:
				return io.NopCloser(bytes.NewReader(rawCfg)), false, nil
			}
			return nil, false, errdefs.NotFound("blob %s: not in the store (the container's image lost a layer)", d.Digest)
		},
	})
}

// imageConfigOf is the image config a container's config makes, as
// Docker's commit takes it.
func imageConfigOf(c *Config) v1.Config {
	out := v1.Config{
		User:         c.User,
		Env:          append([]string(nil), c.Env...),
		Cmd:          append([]string(nil), c.Cmd...),
		Entrypoint:   append([]string(nil), c.Entrypoint...),
		WorkingDir:   c.WorkingDir,
		StopSignal:   c.StopSignal,
		ExposedPorts: c.ExposedPorts,
		Volumes:      c.Volumes,
	}
	if len(c.Labels) > 0 {
		out.Labels = map[string]string{}
		for k, v := range c.Labels {
			out.Labels[k] = v
		}
	}
	if h := c.Healthcheck; h != nil {
		out.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return out
}
