// Package image is Hutch's image store: a content-addressed blob store
// (package content) and an index of image names to manifests, plus the
// accessors the rest of Hutch needs (config, layers, diff IDs, chain IDs).
//
// On disk, under the storage root:
//
//	blobs/sha256/HEX   manifests, configs, compressed layers (content)
//	ingest/            writes in progress (content)
//	images.json        the index: one record per image manifest
//	images.lock        flock held while the index is read-modified-written
//	gc.lock            shared by writers of blobs, exclusive for garbage collection
//
// An image is "present" when its manifest, config and layer blobs are all
// stored; unpacking layers is the snapshotter's business.
package image

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image/content"
	"hutch.dev/hutch/image/reference"
	"hutch.dev/hutch/store"
)

// Record is one image in the index, keyed by its image manifest digest.
type Record struct {
	// Digest is the image manifest's digest.
	Digest digest.Digest `json:"digest"`
	// Index is the digest of the image index (manifest list) the manifest
	// was chosen from for this machine's platform, if it came from one.
	Index digest.Digest `json:"index,omitempty"`
	// Names are full tagged names: "docker.io/library/busybox:latest".
	Names []string `json:"names,omitempty"`
	// RepoDigests are full digested names the image is known by in
	// registries: "docker.io/library/busybox@sha256:...".
	RepoDigests []string `json:"repoDigests,omitempty"`
	// Added is when the image was stored.
	Added time.Time `json:"added"`
}

// Dangling reports whether the image has neither a name nor a repository
// digest (Docker's <none>:<none>).
func (r *Record) Dangling() bool { return len(r.Names) == 0 && len(r.RepoDigests) == 0 }

type indexFile struct {
	Version int       `json:"version"`
	Images  []*Record `json:"images"`
}

// Store holds images under a storage root.
type Store struct {
	root    string
	content *content.Store
}

// Open opens (creating as needed) the image store under root.
func Open(root string) (*Store, error) {
	c, err := content.New(root)
	if err != nil {
		return nil, err
	}
	return &Store{root: root, content: c}, nil
}

// Content is the blob store underneath.
func (s *Store) Content() *content.Store { return s.content }

// Root is the storage root.
func (s *Store) Root() string { return s.root }

func (s *Store) indexPath() string { return filepath.Join(s.root, "images.json") }

func (s *Store) read() (*indexFile, error) {
	ix := &indexFile{Version: 1}
	if err := store.ReadJSON(s.indexPath(), ix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image index: %w", err)
	}
	return ix, nil
}

// update reads, changes and writes the index under its lock.
func (s *Store) update(fn func(ix *indexFile) error) error {
	l, err := store.LockFile(filepath.Join(s.root, "images.lock"))
	if err != nil {
		return err
	}
	defer l.Unlock()
	ix, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(ix); err != nil {
		return err
	}
	return store.WriteJSON(s.indexPath(), ix)
}

// List returns every image record, newest first.
func (s *Store) List() ([]*Record, error) {
	ix, err := s.read()
	if err != nil {
		return nil, err
	}
	recs := slices.Clone(ix.Images)
	slices.SortStableFunc(recs, func(a, b *Record) int { return b.Added.Compare(a.Added) })
	return recs, nil
}

// Images returns every image, newest first.
func (s *Store) Images() ([]*Image, error) {
	recs, err := s.List()
	if err != nil {
		return nil, err
	}
	imgs := make([]*Image, 0, len(recs))
	for _, r := range recs {
		img, err := s.load(r)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

// add puts rec in the index. Its names are taken from whichever image
// held them (that image may become dangling, as in Docker); an existing
// record of the same manifest gets the names added.
func (s *Store) add(rec Record) (*Record, error) {
	var out *Record
	err := s.update(func(ix *indexFile) error {
		out = addRecord(ix, rec)
		return nil
	})
	return out, err
}

func addRecord(ix *indexFile, rec Record) *Record {
	for _, r := range ix.Images {
		if r.Digest != rec.Digest {
			r.Names = slices.DeleteFunc(r.Names, func(n string) bool { return slices.Contains(rec.Names, n) })
		}
	}
	for _, r := range ix.Images {
		if r.Digest == rec.Digest {
			for _, n := range rec.Names {
				if !slices.Contains(r.Names, n) {
					r.Names = append(r.Names, n)
				}
			}
			for _, n := range rec.RepoDigests {
				if !slices.Contains(r.RepoDigests, n) {
					r.RepoDigests = append(r.RepoDigests, n)
				}
			}
			if rec.Index != "" {
				r.Index = rec.Index
			}
			return r
		}
	}
	if rec.Added.IsZero() {
		rec.Added = time.Now().UTC()
	}
	ix.Images = append(ix.Images, &rec)
	return &rec
}

// Get finds the image s names: a name ("busybox", "localhost:5000/x:1"), a
// digested name, an image ID or a unique prefix of one (with or without
// "sha256:"), or a full manifest digest. Names win over IDs, as in Docker.
func (s *Store) Get(ref string) (*Image, error) {
	ix, err := s.read()
	if err != nil {
		return nil, err
	}
	r, err := s.find(ix, ref)
	if err != nil {
		return nil, err
	}
	return s.load(r)
}

func (s *Store) find(ix *indexFile, ref string) (*Record, error) {
	if full, err := reference.Normalize(ref); err == nil {
		for _, r := range ix.Images {
			if slices.Contains(r.Names, full) || slices.Contains(r.RepoDigests, full) {
				return r, nil
			}
		}
	}
	id := strings.TrimPrefix(ref, "sha256:")
	if id == "" || strings.Trim(id, "0123456789abcdef") != "" || len(id) > 64 {
		return nil, errdefs.NotFound("image %q: not found", ref)
	}
	var match *Record
	for _, r := range ix.Images {
		if r.Digest.Encoded() == id {
			return r, nil
		}
		cfg, err := s.configDigest(r.Digest)
		if err != nil {
			continue
		}
		if strings.HasPrefix(cfg.Encoded(), id) {
			if match != nil && match.Digest != r.Digest {
				c1, _ := s.configDigest(match.Digest)
				if c1 != cfg {
					return nil, errdefs.InvalidArgument("image %q: ambiguous: matches more than one image ID", ref)
				}
			}
			if match == nil {
				match = r
			}
		}
	}
	if match == nil {
		return nil, errdefs.NotFound("image %q: not found", ref)
	}
	return match, nil
}

// Tag gives the image src the name target (normalised; a name held by
// another image moves, as in Docker).
func (s *Store) Tag(src, target string) error {
	t, err := reference.Parse(target, false)
	if err != nil {
		return err
	}
	full := reference.String(t)
	if strings.Contains(full, "@") {
		return errdefs.InvalidArgument("tag %q: a tag cannot be a digest", target)
	}
	return s.update(func(ix *indexFile) error {
		r, err := s.find(ix, src)
		if err != nil {
			return err
		}
		addRecord(ix, Record{Digest: r.Digest, Names: []string{full}})
		return nil
	})
}

// RemoveResult says what Remove did, in Docker's words.
type RemoveResult struct {
	Untagged []string        // full names removed
	Deleted  []digest.Digest // image IDs (config digests) of images removed
}

// Remove removes the name ref from its image, and the image itself when it
// has no name left (or when ref is an ID). An ID that several names share
// is refused unless force, as in Docker. Blobs no image uses any more are
// then garbage-collected.
func (s *Store) Remove(ref string, force bool) (RemoveResult, error) {
	var res RemoveResult
	err := s.update(func(ix *indexFile) error {
		r, err := s.find(ix, ref)
		if err != nil {
			return err
		}
		full, nerr := reference.Normalize(ref)
		byName := nerr == nil && (slices.Contains(r.Names, full) || slices.Contains(r.RepoDigests, full))
		if byName {
			r.Names = slices.DeleteFunc(r.Names, func(n string) bool { return n == full })
			r.RepoDigests = slices.DeleteFunc(r.RepoDigests, func(n string) bool { return n == full })
			res.Untagged = append(res.Untagged, full)
			if len(r.Names) > 0 {
				return nil
			}
		} else if len(r.Names) > 1 && !force {
			return errdefs.Conflict("image %q: referenced by more than one name (%s): remove by name or force", ref, strings.Join(r.Names, ", "))
		} else {
			res.Untagged = append(res.Untagged, r.Names...)
		}
		res.Untagged = append(res.Untagged, r.RepoDigests...)
		cfg, _ := s.configDigest(r.Digest)
		res.Deleted = append(res.Deleted, cfg)
		ix.Images = slices.DeleteFunc(ix.Images, func(x *Record) bool { return x == r })
		return nil
	})
	if err != nil {
		return res, err
	}
	_, err = s.GC()
	return res, err
}

// Prune removes dangling images (all images without a name with all) and
// then unreferenced blobs and stale ingests.
func (s *Store) Prune(all bool) (RemoveResult, int64, error) {
	var res RemoveResult
	err := s.update(func(ix *indexFile) error {
		ix.Images = slices.DeleteFunc(ix.Images, func(r *Record) bool {
			if r.Dangling() || (all && len(r.Names) == 0) {
				cfg, _ := s.configDigest(r.Digest)
				res.Deleted = append(res.Deleted, cfg)
				res.Untagged = append(res.Untagged, r.RepoDigests...)
				return true
			}
			return false
		})
		return nil
	})
	if err != nil {
		return res, 0, err
	}
	freed, err := s.GC()
	s.content.Prune(24 * time.Hour)
	return res, freed, err
}

// GC removes every blob no image in the index references and returns
// the bytes freed. Writers hold gc.lock shared from their first blob until
// their record is in the index; while one does, GC does nothing (the next
// rmi or prune collects), so it never removes a blob a pull is about to
// reference.
func (s *Store) GC() (int64, error) {
	gl, ok, err := s.gcLock(unix.LOCK_EX | unix.LOCK_NB)
	if err != nil || !ok {
		return 0, err
	}
	defer gl.Unlock()
	l, err := store.LockFile(filepath.Join(s.root, "images.lock"))
	if err != nil {
		return 0, err
	}
	defer l.Unlock()
	ix, err := s.read()
	if err != nil {
		return 0, err
	}
	keep := map[digest.Digest]bool{}
	for _, r := range ix.Images {
		keep[r.Digest] = true
		if r.Index != "" {
			keep[r.Index] = true
		}
		m, err := s.manifest(r.Digest)
		if err != nil {
			continue
		}
		keep[digest.Digest(m.Config.Digest.String())] = true
		for _, l := range m.Layers {
			keep[digest.Digest(l.Digest.String())] = true
		}
	}
	var freed int64
	var dead []content.Info
	err = s.content.Walk(func(i content.Info) error {
		if !keep[i.Digest] {
			dead = append(dead, i)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, i := range dead {
		if err := s.content.Delete(i.Digest); err != nil {
			return freed, err
		}
		freed += i.Size
	}
	return freed, nil
}

// gcLock takes gc.lock with how (LOCK_SH for writers, LOCK_EX|LOCK_NB for
// GC); ok is false when a non-blocking lock was busy.
func (s *Store) gcLock(how int) (*store.Lock, bool, error) {
	return store.Flock(filepath.Join(s.root, "gc.lock"), how)
}

// AddRepoDigest records that the image with manifest d is known by the
// digested name repoDigest (after a push).
func (s *Store) AddRepoDigest(d digest.Digest, repoDigest string) error {
	return s.update(func(ix *indexFile) error {
		for _, r := range ix.Images {
			if r.Digest == d {
				if !slices.Contains(r.RepoDigests, repoDigest) {
					r.RepoDigests = append(r.RepoDigests, repoDigest)
				}
				return nil
			}
		}
		return errdefs.NotFound("image %s: not found", d)
	})
}
