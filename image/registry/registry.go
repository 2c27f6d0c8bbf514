// Package registry pulls images from and pushes them to registries that
// speak the OCI distribution protocol, with go-containerregistry's remote
// and transport packages (token and basic auth, retries) underneath.
//
// Blobs of a pull are fetched by this package (through the authenticated
// transport) so that a blob left half-written by an interrupted pull can
// be continued with a Range request; the image store verifies every blob
// before it keeps it.
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
	"hutch.dev/hutch/image/reference"
)

// UserAgent is sent with every request.
var UserAgent = "hutch/0.1"

// Options are shared by Pull, Push and Login.
type Options struct {
	// TLSVerify, when set to false, allows plain HTTP and unverified TLS
	// for the registry. Unset, loopback registries (localhost, 127/8, ::1)
	// are insecure and every other is verified, as in Docker.
	TLSVerify *bool
	// Platform chooses the image from an index; default this machine's
	// (linux/amd64 here).
	Platform *v1.Platform
	// AuthFile is the credentials file (Docker's config.json format);
	// default $DOCKER_CONFIG/config.json or ~/.docker/config.json.
	AuthFile string
	// Jobs is how many blobs move at once (default 4).
	Jobs     int
	Progress image.ProgressFunc
	// Transport is the base HTTP transport (tests); default a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
}

// DefaultPlatform is this machine's platform.
func DefaultPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm64" {
		p.Variant = "v8"
	}
	return p
}

func (o *Options) insecure(reg string) bool {
	if o.TLSVerify != nil {
		return !*o.TLSVerify
	}
	return reference.IsLoopback(reg)
}

func (o *Options) parse(ref string) (name.Reference, error) {
	r, err := reference.Parse(ref, false)
	if err != nil {
		return nil, err
	}
	if o.insecure(r.Context().RegistryStr()) {
		return reference.Parse(ref, true)
	}
	return r, nil
}

func (o *Options) base(reg name.Registry) http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = 60 * time.Second
	if o.insecure(reg.RegistryStr()) {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return t
}

func (o *Options) remoteOptions(ctx context.Context, reg name.Registry) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(o.base(reg)),
		remote.WithAuthFromKeychain(o.keychain()),
		remote.WithUserAgent(UserAgent),
	}
}

// client is an authenticated, retrying HTTP client for one repository.
func (o *Options) client(ctx context.Context, repo name.Repository, scope string) (*http.Client, error) {
	auth, err := o.keychain().Resolve(repo)
	if err != nil {
		return nil, err
	}
	t := transport.NewRetry(o.base(repo.Registry))
	t = transport.NewUserAgent(t, UserAgent)
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, t, []string{repo.Scope(scope)})
	if err != nil {
		return nil, classify(repo.String(), err)
	}
	return &http.Client{Transport: rt}, nil
}

// Pull fetches ref into the store: an index is resolved to the image for
// the platform; blobs already stored are skipped; the others are fetched
// in parallel, resuming any partial download, and verified.
func Pull(ctx context.Context, s *image.Store, ref string, o Options) (*image.Image, error) {
	r, err := o.parse(ref)
	if err != nil {
		return nil, err
	}
	full := reference.String(r)
	ropts := o.remoteOptions(ctx, r.Context().Registry)
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, classify(full, err)
	}
	manifest, index := desc.Manifest, []byte(nil)
	digestRef := desc.Digest
	if image.IsIndex(desc.MediaType) {
		index = desc.Manifest
		im, err := image.ParseIndex(desc.Manifest)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", full, err)
		}
		want := DefaultPlatform()
		if o.Platform != nil {
			want = *o.Platform
		}
		child, err := choose(im, want)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", full, err)
		}
		cd, err := remote.Get(r.Context().Digest(child.Digest.String()), ropts...)
		if err != nil {
			return nil, classify(full, err)
		}
		if !isImageManifest(cd.MediaType) {
			return nil, errdefs.NotImplemented("image %q: %s for %s is a %s, not an image manifest", full, child.Digest, want, cd.MediaType)
		}
		manifest = cd.Manifest
	} else if !isImageManifest(desc.MediaType) {
		return nil, errdefs.NotImplemented("image %q: media type %s is not supported", full, desc.MediaType)
	}
	client, err := o.client(ctx, r.Context(), transport.PullScope)
	if err != nil {
		return nil, err
	}
	var names []string
	if _, ok := r.(name.Tag); ok {
		names = []string{full}
	}
	img, err := s.Put(ctx, image.PutOptions{
		Manifest:    manifest,
		Index:       index,
		Fetch:       blobFetcher(client, r.Context()),
		Names:       names,
		RepoDigests: []string{reference.Repository(r.Context()) + "@" + digestRef.String()},
		Jobs:        o.Jobs,
		Progress:    o.Progress,
	})
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", full, err)
	}
	return img, nil
}

func isImageManifest(mt types.MediaType) bool {
	return mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}

// choose picks the manifest for platform want from an index: the first
// entry that satisfies it (an empty variant in want matches any).
func choose(im *v1.IndexManifest, want v1.Platform) (v1.Descriptor, error) {
	var have []string
	for _, m := range im.Manifests {
		if m.Platform == nil {
			continue
		}
		if m.Platform.Satisfies(want) {
			return m, nil
		}
		have = append(have, m.Platform.String())
	}
	// An arm64 request without variant matches "v8" above; a request of
	// v8 should also match an entry that gives no variant.
	if want.Variant != "" {
		w := want
		w.Variant = ""
		for _, m := range im.Manifests {
			if m.Platform != nil && m.Platform.Variant == "" && m.Platform.Satisfies(w) {
				return m, nil
			}
		}
	}
	return v1.Descriptor{}, errdefs.NotFound("no image for platform %s in the index (it has: %s)", want.String(), strings.Join(have, ", "))
}

// blobFetcher GETs blobs from repo, asking for the rest of a partial one
// with a Range request.
func blobFetcher(c *http.Client, repo name.Repository) image.FetchFunc {
	return func(ctx context.Context, desc v1.Descriptor, offset int64) (io.ReadCloser, bool, error) {
		u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), desc.Digest)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, false, err
		}
		if offset > 0 {
			if offset >= desc.Size {
				return io.NopCloser(strings.NewReader("")), true, nil
			}
			// Both ends are given: some registries do not take "N-".
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, desc.Size-1))
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, false, err
		}
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0 {
			// The registry cannot serve a part: fetch it all.
			resp.Body.Close()
			req.Header.Del("Range")
			if resp, err = c.Do(req); err != nil {
				return nil, false, err
			}
		}
		switch resp.StatusCode {
		case http.StatusOK:
			return resp.Body, false, nil
		case http.StatusPartialContent:
			if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", offset)) {
				resp.Body.Close()
				return nil, false, fmt.Errorf("blob %s: unexpected Content-Range %q", desc.Digest, resp.Header.Get("Content-Range"))
			}
			return resp.Body, true, nil
		}
		defer resp.Body.Close()
		err = transport.CheckError(resp, http.StatusOK, http.StatusPartialContent)
		if resp.StatusCode == http.StatusNotFound {
			return nil, false, errdefs.NotFound("blob %s: not found in %s", desc.Digest, repo)
		}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return nil, false, image.Permanent(err)
		}
		return nil, false, err
	}
}

// classify turns registry errors into Hutch's error classes, naming ref.
func classify(ref string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusNotFound:
			return errdefs.NotFound("image %q: not found: %v", ref, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return errdefs.FailedPrecondition("image %q: access denied (not logged in, or no such repository): %v", ref, err)
		}
		for _, d := range terr.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return errdefs.NotFound("image %q: not found", ref)
			}
		}
	}
	return fmt.Errorf("image %q: %w", ref, err)
}

var _ authn.Keychain = (*fileKeychain)(nil)
