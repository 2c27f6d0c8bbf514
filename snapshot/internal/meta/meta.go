// Package meta keeps the records of a snapshotter's root, shared by the
// overlay and native implementations so both mean the same by Prepare,
// Commit and Remove:
//
//	ROOT/metadata.json   every snapshot: id, kind, parent, times
//	ROOT/lock            flock held while metadata.json changes
//	ROOT/locks/HASH      named locks (Snapshotter.Lock)
//	ROOT/snapshots/N/    one directory per snapshot, N a small number
//
// Short numeric directory names keep overlay's lowerdir option short: the
// kernel takes at most one page of mount options.
package meta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/mountinfo"
	"hutch.dev/hutch/snapshot"
	"hutch.dev/hutch/store"
)

// Record is one snapshot on disk.
type Record struct {
	ID      uint64        `json:"id"`
	Kind    snapshot.Kind `json:"kind"`
	Parent  string        `json:"parent,omitempty"`
	Created time.Time     `json:"created"`
	Updated time.Time     `json:"updated"`
}

type db struct {
	NextID    uint64             `json:"next_id"`
	Snapshots map[string]*Record `json:"snapshots"`
}

// Store is the metadata of one root.
type Store struct {
	root string
}

// Open makes the root's directories when missing.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("snapshot root %s: %w", root, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, "snapshots"), filepath.Join(abs, "locks")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("snapshot root: %w", err)
		}
	}
	// Mount points in mountinfo are real paths; so must ours be for the
	// check before a removal to see them.
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("snapshot root: %w", err)
	}
	s := &Store{root: abs}
	if err := s.Update(func(tx *Tx) error { tx.sweep(); return nil }); err != nil {
		return nil, err
	}
	return s, nil
}

// sweep removes what a crash left behind: rm-N directories of interrupted
// removals (see Retire), and numbered directories that no record names and
// nobody claims (see Claim), from a Prepare that died while copying. It
// runs under the metadata lock, so a directory being made within an
// Update is never seen half done.
func (tx *Tx) sweep() {
	ents, _ := os.ReadDir(tx.s.SnapshotsDir())
	used := map[string]bool{}
	for _, r := range tx.d.Snapshots {
		used[strconv.FormatUint(r.ID, 10)] = true
	}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(tx.s.SnapshotsDir(), name)
		if _, err := strconv.ParseUint(name, 10, 64); err == nil && !used[name] {
			release, err := claim(p, false)
			if err != nil {
				continue // claimed: a Prepare in progress
			}
			if CheckNoMounts(p) == nil {
				os.RemoveAll(p)
			}
			release()
			continue
		}
		if strings.HasPrefix(name, "rm-") && CheckNoMounts(p) == nil {
			os.RemoveAll(p)
		}
	}
}

// Claim marks a new snapshot directory as in the making until release is
// called, for a Prepare that fills it outside the metadata lock (a native
// copy): sweep leaves it alone meanwhile. The claim is a flock on the
// directory, so it ends with the process.
func Claim(dir string) (release func(), err error) { return claim(dir, true) }

func claim(dir string, wait bool) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if !wait {
		how |= unix.LOCK_NB
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return func() { unix.Close(fd) }, nil
}

// Root is the absolute root directory.
func (s *Store) Root() string { return s.root }

// SnapshotsDir holds the per-snapshot directories.
func (s *Store) SnapshotsDir() string { return filepath.Join(s.root, "snapshots") }

// Dir is the directory of snapshot id.
func (s *Store) Dir(id uint64) string {
	return filepath.Join(s.root, "snapshots", strconv.FormatUint(id, 10))
}

func (s *Store) path() string { return filepath.Join(s.root, "metadata.json") }

func (s *Store) read() (*db, error) {
	d := &db{NextID: 1, Snapshots: map[string]*Record{}}
	if err := store.ReadJSON(s.path(), d); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("snapshot metadata: %w", err)
	}
	if d.Snapshots == nil {
		d.Snapshots = map[string]*Record{}
	}
	return d, nil
}

// Tx is the metadata as read by View or Update.
type Tx struct {
	s       *Store
	d       *db
	now     time.Time
	changed bool
}

// View reads the metadata without the lock: writes replace the file by
// rename, so a reader sees one whole version.
func (s *Store) View(fn func(*Tx) error) error {
	d, err := s.read()
	if err != nil {
		return err
	}
	return fn(&Tx{s: s, d: d, now: time.Now().UTC()})
}

// Update runs fn under the lock on the current metadata and writes it back
// when fn changed it and returned nil.
func (s *Store) Update(fn func(*Tx) error) error {
	l, err := store.LockFile(filepath.Join(s.root, "lock"))
	if err != nil {
		return fmt.Errorf("snapshot metadata: %w", err)
	}
	defer l.Unlock()
	d, err := s.read()
	if err != nil {
		return err
	}
	tx := &Tx{s: s, d: d, now: time.Now().UTC()}
	if err := fn(tx); err != nil {
		return err
	}
	if !tx.changed {
		return nil
	}
	if err := store.WriteJSON(s.path(), d); err != nil {
		return fmt.Errorf("snapshot metadata: %w", err)
	}
	return nil
}

// Lock takes the named lock. Names are hashed into file names, so any
// string (a chain ID with its colon, a key with slashes) is fine. The lock
// files stay: removing a lock file while another process waits on it would
// let a third one lock a new file of the same name.
func (s *Store) Lock(name string) (func() error, error) {
	h := sha256.Sum256([]byte(name))
	l, err := store.LockFile(filepath.Join(s.root, "locks", hex.EncodeToString(h[:16])))
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", name, err)
	}
	return l.Unlock, nil
}

// Get returns the record of key.
func (tx *Tx) Get(key string) (Record, error) {
	r, ok := tx.d.Snapshots[key]
	if !ok {
		return Record{}, errdefs.NotFound("snapshot %q: not found", key)
	}
	return *r, nil
}

// Info describes key.
func (tx *Tx) Info(key string) (snapshot.Info, error) {
	r, err := tx.Get(key)
	if err != nil {
		return snapshot.Info{}, err
	}
	return snapshot.Info{Name: key, Parent: r.Parent, Kind: r.Kind, Created: r.Created, Updated: r.Updated}, nil
}

// Walk calls fn for every snapshot in name order.
func (tx *Tx) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	keys := make([]string, 0, len(tx.d.Snapshots))
	for k := range tx.d.Snapshots {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		info, _ := tx.Info(k)
		if err := fn(ctx, info); err != nil {
			return err
		}
	}
	return nil
}

// Chain returns the directory ids of parent and its ancestors, nearest
// first (overlay's lowerdir order). An empty parent gives none.
func (tx *Tx) Chain(parent string) ([]uint64, error) {
	var ids []uint64
	for p := parent; p != ""; {
		r, ok := tx.d.Snapshots[p]
		if !ok {
			return nil, errdefs.NotFound("snapshot %q: parent %q not found", parent, p)
		}
		ids = append(ids, r.ID)
		p = r.Parent
		if len(ids) > len(tx.d.Snapshots) {
			return nil, fmt.Errorf("snapshot %q: parent chain loops", parent)
		}
	}
	return ids, nil
}

// CheckNew refuses a new snapshot key on parent: key in use, parent
// missing or not committed.
func (tx *Tx) CheckNew(key, parent string) error {
	if key == "" {
		return errdefs.InvalidArgument("snapshot: empty key")
	}
	if _, ok := tx.d.Snapshots[key]; ok {
		return errdefs.AlreadyExists("snapshot %q: already exists", key)
	}
	if parent == "" {
		return nil
	}
	p, ok := tx.d.Snapshots[parent]
	if !ok {
		return errdefs.NotFound("snapshot %q: parent %q not found", key, parent)
	}
	if p.Kind != snapshot.KindCommitted {
		return errdefs.FailedPrecondition("snapshot %q: parent %q is %s, not committed", key, parent, p.Kind)
	}
	return nil
}

// NewDir allocates a directory id and creates its directory. An id whose
// directory exists already (left by a crash between mkdir and the record)
// is skipped rather than reused.
func (tx *Tx) NewDir() (uint64, string, error) {
	for {
		id := tx.d.NextID
		tx.d.NextID++
		tx.changed = true
		dir := tx.s.Dir(id)
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			return id, dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return 0, "", fmt.Errorf("snapshot: %w", err)
		}
	}
}

// Add records a new snapshot; CheckNew must have passed in the same Tx.
func (tx *Tx) Add(key, parent string, kind snapshot.Kind, id uint64) {
	tx.d.Snapshots[key] = &Record{ID: id, Kind: kind, Parent: parent, Created: tx.now, Updated: tx.now}
	tx.changed = true
}

// Commit renames the active snapshot key to the committed snapshot name.
func (tx *Tx) Commit(name, key string) (Record, error) {
	r, ok := tx.d.Snapshots[key]
	if !ok {
		return Record{}, errdefs.NotFound("snapshot %q: not found", key)
	}
	if r.Kind != snapshot.KindActive {
		return Record{}, errdefs.FailedPrecondition("snapshot %q: commit: is %s, not active", key, r.Kind)
	}
	if name == "" {
		return Record{}, errdefs.InvalidArgument("snapshot %q: commit: empty name", key)
	}
	if _, ok := tx.d.Snapshots[name]; ok {
		return Record{}, errdefs.AlreadyExists("snapshot %q: commit: %q already exists", key, name)
	}
	delete(tx.d.Snapshots, key)
	r.Kind = snapshot.KindCommitted
	r.Updated = tx.now
	tx.d.Snapshots[name] = r
	tx.changed = true
	return *r, nil
}

// Remove deletes the record of key, refused while another snapshot names
// it as parent or while a mount point lies in its directory, and returns
// the record so the caller can remove the directory.
func (tx *Tx) Remove(key string) (Record, error) {
	r, ok := tx.d.Snapshots[key]
	if !ok {
		return Record{}, errdefs.NotFound("snapshot %q: not found", key)
	}
	var children []string
	for k, c := range tx.d.Snapshots {
		if c.Parent == key {
			children = append(children, k)
		}
	}
	if len(children) > 0 {
		sort.Strings(children)
		return Record{}, errdefs.FailedPrecondition("snapshot %q: remove: parent of %q", key, strings.Join(children, ", "))
	}
	if err := CheckNoMounts(tx.s.Dir(r.ID)); err != nil {
		return Record{}, fmt.Errorf("snapshot %q: remove: %w", key, err)
	}
	delete(tx.d.Snapshots, key)
	tx.changed = true
	return *r, nil
}

// CheckNoMounts fails when anything is mounted at or below dir: removing
// such a tree would reach into the mounted file system.
func CheckNoMounts(dir string) error {
	ms, err := mountinfo.Read()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			return errdefs.FailedPrecondition("%s is still mounted", m.Mountpoint)
		}
	}
	return nil
}

// Retire renames the directory of a removed snapshot out of the id space
// and returns the new name for the caller to remove after the lock is
// released (a native copy can take a while to delete). A crash before the
// removal leaves an rm-N directory that the next Open deletes.
func (tx *Tx) Retire(id uint64) (string, error) {
	gone := filepath.Join(tx.s.SnapshotsDir(), "rm-"+strconv.FormatUint(id, 10))
	if err := os.Rename(tx.s.Dir(id), gone); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	return gone, nil
}

// Usage measures the files below dir, counting each inode once.
func Usage(ctx context.Context, dir string) (snapshot.Usage, error) {
	var u snapshot.Usage
	seen := map[[2]uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := statOf(fi)
		if !ok {
			return nil
		}
		if st.nlink > 1 {
			k := [2]uint64{st.dev, st.ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		u.Inodes++
		u.Size += st.blocks * 512
		return nil
	})
	return u, err
}

// Stat describes key.
func (s *Store) Stat(key string) (info snapshot.Info, err error) {
	err = s.View(func(tx *Tx) error {
		info, err = tx.Info(key)
		return err
	})
	return info, err
}

// Walk calls fn for every snapshot in name order.
func (s *Store) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	return s.View(func(tx *Tx) error { return tx.Walk(ctx, fn) })
}

// Remove deletes key's record and its directory (see Tx.Remove).
func (s *Store) Remove(key string) error {
	var gone string
	err := s.Update(func(tx *Tx) error {
		r, err := tx.Remove(key)
		if err != nil {
			return err
		}
		if gone, err = tx.Retire(r.ID); err != nil {
			return fmt.Errorf("snapshot %q: remove: %w", key, err)
		}
		return nil
	})
	if err != nil || gone == "" {
		return err
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("snapshot %q: remove: %w", key, err)
	}
	return nil
}
