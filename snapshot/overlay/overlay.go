// Package overlay is the overlayfs Snapshotter: each snapshot is one layer
// directory, ROOT/snapshots/N/fs, and an active snapshot is mounted as
//
//	overlay upperdir=N/fs, lowerdir=P1/fs:P2/fs:..., workdir=N/work
//
// with its parent first among the lowers. A committed snapshot's fs is the
// upper it was written as, unchanged, so an image layer is unpacked once
// and shared as a lower by every image and container that uses it.
package overlay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/mount"
	"hutch.dev/hutch/snapshot"
	"hutch.dev/hutch/snapshot/internal/meta"
)

var _ snapshot.Snapshotter = (*Snapshotter)(nil)

// Snapshotter keeps overlay snapshots under one root.
type Snapshotter struct {
	ms *meta.Store
}

// New opens (or starts) the snapshotter at root. It does not test that
// overlayfs mounts there; call Supported for that.
func New(root string) (*Snapshotter, error) {
	ms, err := meta.Open(root)
	if err != nil {
		return nil, err
	}
	// Overlay splits its options at commas and lowerdir at colons.
	if strings.ContainsAny(ms.Root(), ":,") {
		return nil, errdefs.InvalidArgument("overlay snapshotter %s: root holds ':' or ','", ms.Root())
	}
	return &Snapshotter{ms: ms}, nil
}

func (s *Snapshotter) upper(id uint64) string { return filepath.Join(s.ms.Dir(id), "fs") }
func (s *Snapshotter) work(id uint64) string  { return filepath.Join(s.ms.Dir(id), "work") }

// Prepare makes a writable snapshot on parent.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindActive, key, parent)
}

// View makes a read-only snapshot of parent.
func (s *Snapshotter) View(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindView, key, parent)
}

func (s *Snapshotter) create(ctx context.Context, kind snapshot.Kind, key, parent string) ([]mount.Mount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ms []mount.Mount
	err := s.ms.Update(func(tx *meta.Tx) error {
		if err := tx.CheckNew(key, parent); err != nil {
			return err
		}
		chain, err := tx.Chain(parent)
		if err != nil {
			return err
		}
		id, dir, err := tx.NewDir()
		if err != nil {
			return fmt.Errorf("snapshot %q: %w", key, err)
		}
		if err := mkdirs(dir); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("snapshot %q: %w", key, err)
		}
		tx.Add(key, parent, kind, id)
		ms = s.mounts(kind, id, chain)
		return nil
	})
	return ms, err
}

// mkdirs makes fs and work; fs is 0755 because it becomes the root
// directory of a container when no layer says otherwise.
func mkdirs(dir string) error {
	if err := os.Mkdir(filepath.Join(dir, "fs"), 0o755); err != nil {
		return err
	}
	return os.Mkdir(filepath.Join(dir, "work"), 0o700)
}

// mounts describes snapshot id on the lower layers chain (nearest first).
func (s *Snapshotter) mounts(kind snapshot.Kind, id uint64, chain []uint64) []mount.Mount {
	ro := kind == snapshot.KindView
	// No parent: the empty upper itself. Overlay needs a lower layer.
	if len(chain) == 0 {
		return []mount.Mount{bind(s.upper(id), ro)}
	}
	// A view of one layer is that layer, read-only: no overlay to mount.
	if ro && len(chain) == 1 {
		return []mount.Mount{bind(s.upper(chain[0]), true)}
	}
	lowers := make([]string, len(chain))
	for i, c := range chain {
		lowers[i] = s.upper(c)
	}
	opts := options()
	if ro {
		// Overlay without an upper is read-only by itself; it needs two
		// lowers at least, which a view of more than one layer has.
		opts = append(opts, "lowerdir="+strings.Join(lowers, ":"))
		return []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
	}
	// upperdir first and workdir last: should a consumer hand a too long
	// option string to mount(2) itself, the kernel cuts it at one page
	// and the mount fails for want of a workdir rather than come up with
	// half of the layers (use MountAt, which does not cut).
	opts = append(opts,
		"upperdir="+s.upper(id),
		"lowerdir="+strings.Join(lowers, ":"),
		"workdir="+s.work(id))
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
}

func bind(dir string, ro bool) mount.Mount {
	opts := []string{"rbind", "rw"}
	if ro {
		opts = []string{"rbind", "ro"}
	}
	return mount.Mount{Type: "bind", Source: dir, Options: opts}
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
		chain, err := tx.Chain(r.Parent)
		if err != nil {
			return err
		}
		ms = s.mounts(r.Kind, r.ID, chain)
		return nil
	})
	return ms, err
}

// Commit turns active snapshot key into committed snapshot name.
func (s *Snapshotter) Commit(ctx context.Context, name, key string) error {
	return s.ms.Update(func(tx *meta.Tx) error {
		r, err := tx.Commit(name, key)
		if err != nil {
			return err
		}
		// The work directory served the mounts of the active snapshot
		// only; a lower layer needs none. Emptied so that what the kernel
		// left in it (work/work, index) does not count as usage.
		w := s.work(r.ID)
		if err := os.RemoveAll(w); err != nil {
			return fmt.Errorf("snapshot %q: commit: %w", key, err)
		}
		return os.Mkdir(w, 0o700)
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

// Usage measures the snapshot's own layer.
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
	u, err := meta.Usage(ctx, s.upper(id))
	if err != nil {
		return u, fmt.Errorf("snapshot %q: usage: %w", key, err)
	}
	return u, nil
}

// ApplyLayer hands apply the upper directory: the layer's changes in
// overlay's form are exactly what overlay reads there. The parents are the
// lower layers' directories, nearest first, as in lowerdir=.
func (s *Snapshotter) ApplyLayer(ctx context.Context, key string, apply func(dir string, parents []string) error) error {
	var id uint64
	var parents []string
	err := s.ms.View(func(tx *meta.Tx) error {
		r, err := tx.Get(key)
		if err != nil {
			return err
		}
		if r.Kind != snapshot.KindActive {
			return errdefs.FailedPrecondition("snapshot %q: apply: is %s, not active", key, r.Kind)
		}
		chain, err := tx.Chain(r.Parent)
		if err != nil {
			return err
		}
		for _, c := range chain {
			parents = append(parents, s.upper(c))
		}
		id = r.ID
		return nil
	})
	if err != nil {
		return err
	}
	if err := apply(s.upper(id), parents); err != nil {
		return fmt.Errorf("snapshot %q: apply: %w", key, err)
	}
	return nil
}

// Lock takes a named cross-process lock (see snapshot.Snapshotter).
func (s *Snapshotter) Lock(ctx context.Context, name string) (func() error, error) {
	return s.ms.Lock(name)
}

// String names the snapshotter in logs.
func (s *Snapshotter) String() string { return "overlay:" + s.ms.Root() }
