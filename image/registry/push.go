package registry

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"

	"hutch.dev/hutch/image"
	"hutch.dev/hutch/image/reference"
)

// Push sends the stored image src to dest (default: src's own name). The
// manifest and config go out byte for byte, so the pushed digest is the
// stored one. Layers the registry has are skipped; the others are
// uploaded in parallel. It returns the manifest digest.
func Push(ctx context.Context, s *image.Store, src, dest string, o Options) (digest.Digest, error) {
	img, err := s.Get(src)
	if err != nil {
		return "", err
	}
	if dest == "" {
		dest = src
	}
	r, err := o.parse(dest)
	if err != nil {
		return "", err
	}
	full := reference.String(r)
	progress := o.Progress
	if progress == nil {
		progress = func(image.Progress) {}
	}
	v, err := img.V1()
	if err != nil {
		return "", err
	}
	client, err := o.client(ctx, r.Context(), transport.PushScope)
	if err != nil {
		return "", err
	}
	ropts := o.remoteOptions(ctx, r.Context().Registry)
	layers, err := v.Layers()
	if err != nil {
		return "", err
	}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	sem := make(chan struct{}, jobs)
	errs := make([]error, len(layers))
	var wg sync.WaitGroup
	for i, l := range img.Layers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = pushLayer(ctx, client, r.Context(), l.Descriptor, layers[i], ropts, progress)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return "", classify(full, err)
		}
	}
	if err := remote.Write(r, v, ropts...); err != nil {
		return "", classify(full, err)
	}
	progress(image.Progress{Kind: "manifest", Digest: img.Digest, Size: int64(len(img.RawManifest)), Done: int64(len(img.RawManifest)), Status: image.Done})
	if err := s.AddRepoDigest(img.Digest, reference.Repository(r.Context())+"@"+img.Digest.String()); err != nil {
		return img.Digest, err
	}
	return img.Digest, nil
}

// pushLayer uploads one layer unless the repository has it already.
func pushLayer(ctx context.Context, c *http.Client, repo name.Repository, desc v1.Descriptor, l v1.Layer, ropts []remote.Option, progress image.ProgressFunc) error {
	ev := image.Progress{Kind: "blob", Digest: digest.Digest(desc.Digest.String()), Size: desc.Size}
	u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), desc.Digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return err
	}
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			ev.Status, ev.Done = image.Skipped, desc.Size
			progress(ev)
			return nil
		}
	}
	ev.Status = image.Copying
	progress(ev)
	updates := make(chan v1.Update, 16)
	done := make(chan error, 1)
	go func() { done <- remote.WriteLayer(repo, l, append(ropts, remote.WithProgress(updates))...) }()
	for u := range updates {
		if u.Error == nil {
			ev.Done = u.Complete
			progress(ev)
		}
	}
	if err := <-done; err != nil {
		ev.Status, ev.Err = image.Failed, err
		progress(ev)
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	ev.Status, ev.Done = image.Done, desc.Size
	progress(ev)
	return nil
}
