// Package snapshot defines how Hutch keeps the file systems of images and
// containers: a Snapshotter makes stacked snapshots, each a directory tree
// described by its parent and its own changes, and hands them out as
// []mount.Mount for the runtime or the engine to perform.
//
// The model is containerd's, cut down: a committed snapshot is read-only
// and can be the parent of others (an image layer, named by its chain ID);
// an active snapshot is writable (a container's top layer, keyed by the
// container ID, or a layer being unpacked); a view is a read-only mount of
// a committed snapshot. Keys and names share one name space and are opaque
// strings.
//
// Implementations: snapshot/overlay (overlayfs, each snapshot one layer)
// and snapshot/native (plain copies, where overlayfs cannot mount). Both run
// the conformance suite in snapshot/testsuite. See docs/snapshot.md.
package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"hutch.dev/hutch/mount"
)

// Kind is the state of a snapshot.
type Kind uint8

const (
	KindUnknown Kind = iota
	// KindView is a read-only snapshot of a committed parent; it cannot be
	// committed.
	KindView
	// KindActive is writable; Commit turns it into KindCommitted.
	KindActive
	// KindCommitted is read-only and may be the parent of others.
	KindCommitted
)

func (k Kind) String() string {
	switch k {
	case KindView:
		return "view"
	case KindActive:
		return "active"
	case KindCommitted:
		return "committed"
	}
	return "unknown"
}

// MarshalJSON writes the kind as its name, so the metadata on disk reads
// plainly and survives a renumbering of the constants.
func (k Kind) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

func (k *Kind) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch s {
	case "view":
		*k = KindView
	case "active":
		*k = KindActive
	case "committed":
		*k = KindCommitted
	default:
		return fmt.Errorf("unknown snapshot kind %q", s)
	}
	return nil
}

// Info describes one snapshot.
type Info struct {
	Name    string    `json:"name"`
	Parent  string    `json:"parent,omitempty"`
	Kind    Kind      `json:"kind"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Usage is the disk space a snapshot holds by itself: for an overlay
// snapshot its own layer, for a native one the whole copy. Hard links are
// counted once.
type Usage struct {
	Size   int64 `json:"size"`   // bytes in use (allocated blocks)
	Inodes int64 `json:"inodes"` // files, directories and links
}

// Snapshotter makes, mounts and removes snapshots. Every method is safe to
// call from several goroutines and several processes on the same root: the
// metadata is changed under a file lock and replaced atomically.
//
// Errors carry an errdefs class: NotFound for a missing key or parent,
// AlreadyExists for a key or name in use, FailedPrecondition for a parent
// that is not committed, a commit of a view, or a removal of a snapshot
// that still has children, InvalidArgument for an empty key.
type Snapshotter interface {
	// Prepare makes a writable snapshot key on top of the committed
	// snapshot parent ("" for an empty one) and returns how to mount it.
	Prepare(ctx context.Context, key, parent string) ([]mount.Mount, error)
	// View is Prepare for a read-only snapshot, which cannot be committed.
	View(ctx context.Context, key, parent string) ([]mount.Mount, error)
	// Commit turns the active snapshot key into the committed snapshot
	// name; key is gone afterwards. Unmount key before committing it: its
	// directory becomes a lower layer of the snapshots made on name.
	Commit(ctx context.Context, name, key string) error
	// Mounts returns the mounts of an active snapshot or a view again.
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	// Remove deletes a snapshot of any kind and its files. It refuses one
	// that is the parent of another, and one whose directory still holds
	// a mount point.
	Remove(ctx context.Context, key string) error
	// Stat describes a snapshot.
	Stat(ctx context.Context, key string) (Info, error)
	// Walk calls fn for every snapshot, in name order, and stops at its
	// first error.
	Walk(ctx context.Context, fn func(context.Context, Info) error) error
	// Usage measures the disk space a snapshot holds by itself.
	Usage(ctx context.Context, key string) (Usage, error)

	// ApplyLayer runs apply on a directory that takes one layer's changes
	// in overlayfs's form (a deleted path as a 0/0 character device, an
	// opaque directory marked trusted.overlay.opaque=y, the form that
	// archive.Apply writes) and makes the active snapshot key show the
	// result: overlay hands out the snapshot's upper directory itself,
	// native applies the changes to its full copy afterwards. parents are
	// the directories below dir, nearest first, for archive.WithParentLayers
	// (a directory the layer needs but does not list takes their metadata):
	// overlay's lower layers, native's full copy of the parent tree. They
	// are read-only to apply.
	ApplyLayer(ctx context.Context, key string, apply func(dir string, parents []string) error) error
	// Lock takes an exclusive lock named name that holds across processes
	// (flock), for work that makes one snapshot in several calls, such as
	// Unpack. It does not block the other methods. Call unlock to release.
	Lock(ctx context.Context, name string) (unlock func() error, err error)
}
