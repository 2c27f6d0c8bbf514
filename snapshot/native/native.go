// Package native is the Snapshotter for where overlayfs cannot mount (a
// root on an overlay or a file system that refuses to be an upper): every
// active snapshot is a full copy of its parent's tree, mounted with a bind
// mount, and Commit keeps the copy as it is. It costs disk space and time
// per container; overlay.Supported tells the engine when it must.
//
// Layout as for overlay (see snapshot/internal/meta): ROOT/snapshots/N/fs
// is the whole tree of snapshot N.
package native

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/mount"
	"hutch.dev/hutch/snapshot"
	"hutch.dev/hutch/snapshot/internal/meta"
)

var _ snapshot.Snapshotter = (*Snapshotter)(nil)

// Snapshotter keeps copied snapshots under one root.
type Snapshotter struct {
	ms *meta.Store
}

// New opens (or starts) the snapshotter at root.
func New(root string) (*Snapshotter, error) {
	ms, err := meta.Open(root)
	if err != nil {
		return nil, err
	}
	return &Snapshotter{ms: ms}, nil
}

func (s *Snapshotter) fs(id uint64) string { return filepath.Join(s.ms.Dir(id), "fs") }

// Prepare copies parent's tree into a new writable snapshot.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindActive, key, parent)
}

// View mounts parent's tree read-only; nothing is copied.
func (s *Snapshotter) View(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindView, key, parent)
}

func (s *Snapshotter) create(ctx context.Context, kind snapshot.Kind, key, parent string) ([]mount.Mount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		id, parentID uint64
		dir          string
		release      func()
		done         bool
	)
	// The copy can take long, so it runs outside the metadata lock: first
	// the directory is made and claimed, then filled, then recorded after
	// checking again that the key is free and the parent still there.
	err := s.ms.Update(func(tx *meta.Tx) error {
		if err := tx.CheckNew(key, parent); err != nil {
			return err
		}
		if parent != "" {
			p, err := tx.Get(parent)
			if err != nil {
				return err
			}
			parentID = p.ID
		}
		var err error
		if id, dir, err = tx.NewDir(); err != nil {
			return fmt.Errorf("snapshot %q: %w", key, err)
		}
		if err := os.Mkdir(filepath.Join(dir, "fs"), 0o755); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("snapshot %q: %w", key, err)
		}
		// A view or an empty snapshot has nothing to copy: record it now.
		if kind == snapshot.KindView || parent == "" {
			tx.Add(key, parent, kind, id)
			done = true
			return nil
		}
		if release, err = meta.Claim(dir); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("snapshot %q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !done {
		defer release()
		err := copyTree(ctx, s.fs(parentID), s.fs(id))
		if err == nil {
			err = s.ms.Update(func(tx *meta.Tx) error {
				if err := tx.CheckNew(key, parent); err != nil {
					return err
				}
				tx.Add(key, parent, kind, id)
				return nil
			})
		} else {
			err = fmt.Errorf("snapshot %q: copy %q: %w", key, parent, err)
		}
		if err != nil {
			os.RemoveAll(dir) // nothing mounts a snapshot before Prepare returns
			return nil, err
		}
	}
	return s.mounts(kind, id, parentID, parent != ""), nil
}

func (s *Snapshotter) mounts(kind snapshot.Kind, id, parentID uint64, hasParent bool) []mount.Mount {
	if kind == snapshot.KindView {
		src := s.fs(id)
		if hasParent {
			src = s.fs(parentID)
		}
		return []mount.Mount{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}
	}
	return []mount.Mount{{Type: "bind", Source: s.fs(id), Options: []string{"rbind", "rw"}}}
}

// Mounts returns the mounts of an active snapshot or a view.
func (s *Snapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	var ms []mount.Mount
	err := s.ms.View(func(tx *meta.Tx) error {
		r, err := tx.Get(key)
		if err != nil {
			return err
		}
		if r.Kind == snapshot.KindCommitted {
			return errdefs.FailedPrecondition("snapshot %q: mounts: committed snapshots are not mounted; view or prepare one on it", key)
		}
		var parentID uint64
		if r.Parent != "" {
			p, err := tx.Get(r.Parent)
			if err != nil {
				return err
			}
			parentID = p.ID
		}
		ms = s.mounts(r.Kind, r.ID, parentID, r.Parent != "")
		return nil
	})
	return ms, err
}

// Commit keeps the active snapshot's tree as the committed snapshot name.
func (s *Snapshotter) Commit(ctx context.Context, name, key string) error {
	return s.ms.Update(func(tx *meta.Tx) error {
		_, err := tx.Commit(name, key)
		return err
	})
}

// Remove deletes a snapshot without children.
func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	return s.ms.Remove(key)
}

// Stat describes a snapshot.
func (s *Snapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	return s.ms.Stat(key)
}

// Walk lists every snapshot in name order.
func (s *Snapshotter) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	return s.ms.Walk(ctx, fn)
}

// Usage measures the snapshot's whole copy (a view holds nothing itself).
func (s *Snapshotter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	var id uint64
	err := s.ms.View(func(tx *meta.Tx) error {
		r, err := tx.Get(key)
		id = r.ID
		return err
	})
	if err != nil {
		return snapshot.Usage{}, err
	}
	u, err := meta.Usage(ctx, s.fs(id))
	if err != nil {
		return u, fmt.Errorf("snapshot %q: usage: %w", key, err)
	}
	return u, nil
}

// ApplyLayer lets apply write the layer in overlay's form into an empty
// directory beside the snapshot's tree, then carries it over: whiteouts
// delete, opaque directories are emptied first, everything else replaces
// what was there (moved by rename, so hard links within the layer hold).
// The one parent apply gets is the snapshot's full tree, still the parent's
// copy: a directory the layer does not list takes its metadata from there,
// and mergeDiff then keeps it (the merged tree shows the same).
func (s *Snapshotter) ApplyLayer(ctx context.Context, key string, apply func(dir string, parents []string) error) error {
	var id uint64
	var hasParent bool
	err := s.ms.View(func(tx *meta.Tx) error {
		r, err := tx.Get(key)
		if err != nil {
			return err
		}
		if r.Kind != snapshot.KindActive {
			return errdefs.FailedPrecondition("snapshot %q: apply: is %s, not active", key, r.Kind)
		}
		id, hasParent = r.ID, r.Parent != ""
		return nil
	})
	if err != nil {
		return err
	}
	diff := filepath.Join(s.ms.Dir(id), "diff")
	if err := meta.CheckNoMounts(diff); err != nil {
		return fmt.Errorf("snapshot %q: apply: %w", key, err)
	}
	if err := os.RemoveAll(diff); err != nil {
		return fmt.Errorf("snapshot %q: apply: %w", key, err)
	}
	if err := os.Mkdir(diff, 0o755); err != nil {
		return fmt.Errorf("snapshot %q: apply: %w", key, err)
	}
	defer os.RemoveAll(diff)
	var parents []string
	if hasParent {
		parents = []string{s.fs(id)}
	}
	if err := apply(diff, parents); err != nil {
		return fmt.Errorf("snapshot %q: apply: %w", key, err)
	}
	if err := mergeDiff(ctx, diff, s.fs(id)); err != nil {
		return fmt.Errorf("snapshot %q: apply: %w", key, err)
	}
	return nil
}

// Lock takes a named cross-process lock (see snapshot.Snapshotter).
func (s *Snapshotter) Lock(ctx context.Context, name string) (func() error, error) {
	return s.ms.Lock(name)
}

// String names the snapshotter in logs.
func (s *Snapshotter) String() string { return "native:" + s.ms.Root() }
