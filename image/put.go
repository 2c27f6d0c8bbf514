package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"hutch.dev/hutch/errdefs"
)

// Status is where one blob is in a copy.
type Status int

const (
	Waiting Status = iota
	Copying
	Skipped // already in the store
	Done
	Failed
)

func (s Status) String() string {
	return [...]string{"waiting", "copying", "skipped", "done", "failed"}[s]
}

// Progress is one event of a copy: a blob changed status or got bytes.
type Progress struct {
	Kind   string // "blob", "config", "manifest"
	Digest digest.Digest
	Size   int64 // total, -1 when unknown
	Done   int64 // bytes stored so far (including a resumed prefix)
	Status Status
	Err    error
}

// ProgressFunc receives progress events; it is called from several
// goroutines at once and must not block for long.
type ProgressFunc func(Progress)

// FetchFunc opens blob desc for reading from offset (the size of a partial
// ingest left by an interrupted copy). A source that can start there
// returns resumed true; otherwise the reader starts at 0 and the partial
// data is dropped.
type FetchFunc func(ctx context.Context, desc v1.Descriptor, offset int64) (rc io.ReadCloser, resumed bool, err error)

// PutOptions says what to copy into the store.
type PutOptions struct {
	// Manifest is the image manifest, exactly as its source serves it.
	Manifest []byte
	// Index is the index (manifest list) the manifest was chosen from, if
	// any; it is stored too, so the repository digest can name it.
	Index []byte
	// Fetch opens blobs (config and layers) from the source.
	Fetch FetchFunc
	// Names (any spelling) and RepoDigests (full "repo@digest") to record.
	Names       []string
	RepoDigests []string
	// Jobs is how many blobs are copied at once (default 4).
	Jobs int
	// Retries is how many times a blob is retried after a transient error
	// (default 4), resuming where the last attempt stopped.
	Retries  int
	Progress ProgressFunc
}

// Put copies an image into the store: config and layers in parallel
// (those already stored are skipped), then the manifest and index, then
// the index record. It returns the stored image.
func (s *Store) Put(ctx context.Context, o PutOptions) (*Image, error) {
	m, err := ParseManifest(o.Manifest)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(o.Names))
	for _, n := range o.Names {
		full, err := normalizeTag(n)
		if err != nil {
			return nil, err
		}
		names = append(names, full)
	}
	if o.Jobs <= 0 {
		o.Jobs = 4
	}
	if o.Retries <= 0 {
		o.Retries = 4
	}
	if o.Progress == nil {
		o.Progress = func(Progress) {}
	}
	gl, _, err := s.gcLock(lockShared)
	if err != nil {
		return nil, err
	}
	defer gl.Unlock()

	type job struct {
		kind string
		desc v1.Descriptor
	}
	jobs := []job{{"config", m.Config}}
	for _, l := range m.Layers {
		jobs = append(jobs, job{"blob", l})
	}
	for _, j := range jobs {
		o.Progress(Progress{Kind: j.kind, Digest: digest.Digest(j.desc.Digest.String()), Size: j.desc.Size, Status: Waiting})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, o.Jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := s.copyBlob(ctx, j.kind, j.desc, o); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var indexDigest digest.Digest
	if o.Index != nil {
		if indexDigest, err = s.content.WriteBlob(ctx, bytes.NewReader(o.Index), digest.FromBytes(o.Index), int64(len(o.Index))); err != nil {
			return nil, err
		}
	}
	md := digest.FromBytes(o.Manifest)
	o.Progress(Progress{Kind: "manifest", Digest: md, Size: int64(len(o.Manifest)), Status: Copying})
	if _, err := s.content.WriteBlob(ctx, bytes.NewReader(o.Manifest), md, int64(len(o.Manifest))); err != nil {
		return nil, err
	}
	o.Progress(Progress{Kind: "manifest", Digest: md, Size: int64(len(o.Manifest)), Done: int64(len(o.Manifest)), Status: Done})
	rec, err := s.add(Record{Digest: md, Index: indexDigest, Names: names, RepoDigests: o.RepoDigests})
	if err != nil {
		return nil, err
	}
	return s.load(rec)
}

// copyBlob stores one blob, resuming a partial ingest and retrying
// transient errors. A digest mismatch is not retried from the same
// partial data: the ingest is discarded and the next attempt starts over.
func (s *Store) copyBlob(ctx context.Context, kind string, desc v1.Descriptor, o PutOptions) error {
	d := digest.Digest(desc.Digest.String())
	ev := Progress{Kind: kind, Digest: d, Size: desc.Size}
	if s.content.Has(d) {
		ev.Status, ev.Done = Skipped, desc.Size
		o.Progress(ev)
		return nil
	}
	var err error
	for attempt := 0; attempt <= o.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(1<<(attempt-1)) * 250 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var done bool
		done, err = s.copyOnce(ctx, ev, desc, o)
		if err == nil {
			if done {
				ev.Status, ev.Done = Done, desc.Size
			} else {
				ev.Status, ev.Done = Skipped, desc.Size
			}
			o.Progress(ev)
			return nil
		}
		if ctx.Err() != nil || errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) || errors.Is(err, errPermanent) {
			break
		}
	}
	ev.Status, ev.Err = Failed, err
	o.Progress(ev)
	return fmt.Errorf("%s %s: %w", kind, d, err)
}

var errPermanent = errors.New("permanent")

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return fmt.Errorf("%w: %w", errPermanent, err) }

func (s *Store) copyOnce(ctx context.Context, ev Progress, desc v1.Descriptor, o PutOptions) (bool, error) {
	w, err := s.content.Writer(ev.Digest, desc.Size)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return false, nil // another process stored it meanwhile
		}
		return false, err
	}
	defer w.Close()
	rc, resumed, err := o.Fetch(ctx, desc, w.Offset())
	if err != nil {
		return false, err
	}
	defer rc.Close()
	if !resumed && w.Offset() > 0 {
		if err := w.Truncate(); err != nil {
			return false, err
		}
	}
	ev.Status, ev.Done = Copying, w.Offset()
	o.Progress(ev)
	buf := make([]byte, 256<<10)
	last := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		n, rerr := rc.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return false, Permanent(err)
			}
			if time.Since(last) > 100*time.Millisecond {
				ev.Done = w.Offset()
				o.Progress(ev)
				last = time.Now()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return false, rerr // partial data stays for the retry to resume
		}
	}
	if _, err := w.Commit(); err != nil {
		return false, err // the ingest is gone; a retry starts over
	}
	return true, nil
}

// IsIndex reports whether a media type is an image index / manifest list.
func IsIndex(mt types.MediaType) bool {
	return mt == types.OCIImageIndex || mt == types.DockerManifestList
}
