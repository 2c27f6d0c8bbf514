// Package volume keeps named volumes as Docker's local driver does: each
// volume is a directory ROOT/volumes/NAME/_data with its record beside it in
// ROOT/volumes/NAME/volume.json.
//
// There is no daemon to count users in memory, so the record also holds
// which containers use the volume (Acquire at container create, Release at
// container remove): `volume rm` and `volume prune` read it under the same
// lock and never remove a volume a container still refers to. Every change
// is made under one flock on ROOT/volumes/.lock and written atomically.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/runflags"
	"hutch.dev/hutch/store"
)

// Volume is a volume's record, as written in volume.json. The fields up
// to Anonymous are Docker's `volume inspect` shape.
type Volume struct {
	Name       string
	Driver     string // always "local"
	Mountpoint string // absolute path of _data
	CreatedAt  time.Time
	Labels     map[string]string
	Options    map[string]string // local driver options: type, device, o
	Anonymous  bool              // created without a name (`-v /data`)

	// UsedBy lists the IDs of the containers that refer to the volume
	// (Acquire/Release), whether running or not.
	UsedBy []string `json:",omitempty"`
	// MountedBy lists the containers for which the volume's own mount
	// (Options) is up (Mount/Unmount); the mount goes when it empties.
	MountedBy []string `json:",omitempty"`
}

// CreateOptions are `volume create`'s flags.
type CreateOptions struct {
	Driver  string            // "" or "local"; anything else is refused
	Labels  map[string]string // --label
	Options map[string]string // --opt: type, device, o
}

// ContainerLookup tells the name of a container by ID, and whether the
// container exists at all. It lets an error name the container
// ("web"), and lets the store forget references of containers that are
// gone (a container removed by a crashed command). It is called with the
// store's lock held, so it must not call back into the store, and should
// read container records without waiting on a container's lock.
type ContainerLookup func(id string) (name string, exists bool)

// Store is the set of volumes under one root.
type Store struct {
	dir    string // ROOT/volumes
	lookup ContainerLookup
}

// Option configures Open.
type Option func(*Store)

// WithContainerLookup gives the store a way to name containers in errors
// and to drop references to containers that no longer exist. The engine
// must then Acquire only after the container's record is written, so a
// concurrent `volume rm` never takes a container being created for a gone
// one.
func WithContainerLookup(f ContainerLookup) Option { return func(s *Store) { s.lookup = f } }

const (
	dataDir    = "_data"
	recordFile = "volume.json"
	lockFile   = ".lock"
	tmpPrefix  = ".tmp-" // volumes being created or removed; swept under the lock
)

// Open returns the store under root, creating root/volumes if missing.
func Open(root string, opts ...Option) (*Store, error) {
	s := &Store{dir: filepath.Join(root, "volumes")}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("volume store: %w", err)
	}
	return s, nil
}

// lock takes the store's lock; every read-modify-write holds it.
func (s *Store) lock() (*store.Lock, error) {
	return store.LockFile(filepath.Join(s.dir, lockFile))
}

// ValidName checks a volume name as Docker's local driver does:
// [a-zA-Z0-9][a-zA-Z0-9_.-]+ (the -v parser's rule, shared).
func ValidName(name string) error {
	if err := runflags.ValidVolumeName(name); err != nil {
		return errdefs.InvalidArgument("%s", err.Error())
	}
	return nil
}

// Create makes a volume. An empty name makes an anonymous volume with a
// random 64-hex name. When the volume exists, Create returns it, as Docker
// does, if opts asks nothing or the same labels and options; different
// ones are a conflict.
func (s *Store) Create(name string, opts CreateOptions) (*Volume, error) {
	anonymous := name == ""
	if anonymous {
		name = randomName()
	} else if err := ValidName(name); err != nil {
		return nil, err
	}
	if opts.Driver != "" && opts.Driver != "local" {
		return nil, errdefs.InvalidArgument("volume %s: driver %q is not supported: only \"local\"", name, opts.Driver)
	}
	if err := validateOptions(opts.Options); err != nil {
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()

	if v, err := s.read(name); err == nil {
		if len(opts.Labels) == 0 && len(opts.Options) == 0 ||
			maps.Equal(v.Labels, opts.Labels) && maps.Equal(v.Options, opts.Options) {
			return v, nil
		}
		return nil, errdefs.Conflict("volume %q already exists with other labels or options", name)
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}

	v := &Volume{
		Name:       name,
		Driver:     "local",
		Mountpoint: filepath.Join(s.dir, name, dataDir),
		CreatedAt:  time.Now().UTC().Truncate(time.Second),
		Labels:     cloneMap(opts.Labels),
		Options:    cloneMap(opts.Options),
		Anonymous:  anonymous,
	}
	// Build the volume in a temporary directory and rename it into place,
	// so a crash leaves either no volume or a whole one.
	tmp, err := os.MkdirTemp(s.dir, tmpPrefix+name+"-")
	if err != nil {
		return nil, fmt.Errorf("volume %s: create: %w", name, err)
	}
	err = os.Mkdir(filepath.Join(tmp, dataDir), 0o755)
	if err == nil {
		// MkdirTemp made tmp 0700; a volume's directory is 0701 as
		// Docker's, so processes of other users in containers can
		// reach _data without listing the volumes.
		err = os.Chmod(tmp, 0o701)
	}
	if err == nil {
		err = store.WriteJSON(filepath.Join(tmp, recordFile), v)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, name))
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("volume %s: create: %w", name, err)
	}
	return v, nil
}

func randomName() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// read loads a volume's record; the caller holds the lock or accepts a
// snapshot.
func (s *Store) read(name string) (*Volume, error) {
	if ValidName(name) != nil {
		return nil, errdefs.NotFound("no such volume: %s", name)
	}
	var v Volume
	if err := store.ReadJSON(filepath.Join(s.dir, name, recordFile), &v); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.NotFound("no such volume: %s", name)
		}
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	return &v, nil
}

func (s *Store) write(v *Volume) error {
	if err := store.WriteJSON(filepath.Join(s.dir, v.Name, recordFile), v); err != nil {
		return fmt.Errorf("volume %s: %w", v.Name, err)
	}
	return nil
}

// Get returns a volume's record.
func (s *Store) Get(name string) (*Volume, error) {
	return s.read(name)
}

// dirOf is the volume's directory, holding _data and volume.json.
func (s *Store) dirOf(name string) string { return filepath.Join(s.dir, name) }

// all reads every record, sweeping what crashed commands left behind; the
// caller holds the lock.
func (s *Store) all() ([]*Volume, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("volume store: %w", err)
	}
	var out []*Volume
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			// Held lock: no Create or Remove is under way, so this is
			// the leftover of a crashed one.
			os.RemoveAll(filepath.Join(s.dir, name))
			continue
		}
		if !e.IsDir() || ValidName(name) != nil {
			continue
		}
		v, err := s.read(name)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *Volume) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// List returns the volumes that match f, sorted by name.
func (s *Store) List(f Filters) ([]*Volume, error) {
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	vols, err := s.all()
	if err != nil {
		return nil, err
	}
	out := vols[:0]
	for _, v := range vols {
		s.dropStale(v)
		if f.match(v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// dropStale forgets references (and mounts) of containers the lookup says
// are gone; a volume mount left only to gone containers is taken down. The
// caller holds the lock.
func (s *Store) dropStale(v *Volume) {
	if s.lookup == nil || len(v.UsedBy) == 0 && len(v.MountedBy) == 0 {
		return
	}
	exists := func(id string) bool { _, ok := s.lookup(id); return ok }
	s.forget(v, func(id string) bool { return !exists(id) })
}

// forget drops the containers gone(id) says from v's references and
// mounts, taking the volume's own mount down when its last user goes, and
// writes v if anything changed. The caller holds the lock.
func (s *Store) forget(v *Volume, gone func(id string) bool) error {
	used := slices.DeleteFunc(slices.Clone(v.UsedBy), gone)
	mounted := slices.DeleteFunc(slices.Clone(v.MountedBy), gone)
	if len(used) == len(v.UsedBy) && len(mounted) == len(v.MountedBy) {
		return nil
	}
	if len(v.MountedBy) > 0 && len(mounted) == 0 {
		if err := unmountIfMounted(v.Mountpoint); err != nil {
			return fmt.Errorf("volume %s: unmount: %w", v.Name, err)
		}
	}
	v.UsedBy, v.MountedBy = used, mounted
	return s.write(v)
}

// inUseError names the containers that use v.
func (s *Store) inUseError(v *Volume) error {
	id := v.UsedBy[0]
	short := id
	if len(short) > 12 {
		short = short[:12]
	}
	who := "container " + short
	if s.lookup != nil {
		if name, _ := s.lookup(id); name != "" {
			who = fmt.Sprintf("container %q (%s)", name, short)
		}
	}
	if n := len(v.UsedBy) - 1; n == 1 {
		who += " and 1 other"
	} else if n > 1 {
		who += fmt.Sprintf(" and %d others", n)
	}
	return errdefs.Conflict("volume %q is in use by %s", v.Name, who)
}

// Remove deletes a volume and its content. A volume that a container
// refers to is never removed, force or not (as Docker); force only makes a
// missing volume no error, as `docker volume rm -f`.
func (s *Store) Remove(name string, force bool) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	v, err := s.read(name)
	if err != nil {
		if force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	return s.remove(v)
}

// remove deletes v; the caller holds the lock.
func (s *Store) remove(v *Volume) error {
	s.dropStale(v)
	if len(v.UsedBy) > 0 {
		return s.inUseError(v)
	}
	if len(v.MountedBy) > 0 {
		return errdefs.Conflict("volume %q is mounted for container %s", v.Name, v.MountedBy[0])
	}
	// A volume whose own mount (Options) was left up by a crash: take it
	// down, never delete through it.
	if err := unmountIfMounted(v.Mountpoint); err != nil {
		return fmt.Errorf("volume %s: remove: %w", v.Name, err)
	}
	// Rename first so the volume disappears at once; the content goes
	// after, and a crash meanwhile leaves only a temporary directory that
	// the next listing sweeps.
	tmp := filepath.Join(s.dir, tmpPrefix+v.Name+"-"+randomName()[:8])
	if err := os.Rename(s.dirOf(v.Name), tmp); err != nil {
		return fmt.Errorf("volume %s: remove: %w", v.Name, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("volume %s: remove: %w", v.Name, err)
	}
	return nil
}

// Prune removes the volumes no container uses that match f: only
// anonymous ones unless f.All, as Docker since API 1.42. It returns the
// names removed and the bytes their content took.
func (s *Store) Prune(f Filters) (removed []string, reclaimed int64, err error) {
	l, err := s.lock()
	if err != nil {
		return nil, 0, err
	}
	defer l.Unlock()
	vols, err := s.all()
	if err != nil {
		return nil, 0, err
	}
	for _, v := range vols {
		s.dropStale(v)
		if len(v.UsedBy) > 0 || len(v.MountedBy) > 0 || !f.All && !v.Anonymous || !f.match(v) {
			continue
		}
		size, _ := diskUsage(v.Mountpoint)
		if err := s.remove(v); err != nil {
			return removed, reclaimed, err
		}
		removed = append(removed, v.Name)
		reclaimed += size
	}
	return removed, reclaimed, nil
}

// Acquire records that container id uses the volume, so that it cannot be
// removed until Release. Acquiring twice is harmless.
func (s *Store) Acquire(name, id string) (*Volume, error) {
	if id == "" {
		return nil, errdefs.InvalidArgument("volume %s: acquire: empty container ID", name)
	}
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	v, err := s.read(name)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(v.UsedBy, id) {
		v.UsedBy = append(v.UsedBy, id)
		if err := s.write(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Release forgets that container id uses the volume. Releasing a volume
// that is gone, or one the container did not hold, is no error, so that
// removing a half-created container always finishes.
func (s *Store) Release(name, id string) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	v, err := s.read(name)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if i := slices.Index(v.UsedBy, id); i >= 0 {
		v.UsedBy = slices.Delete(v.UsedBy, i, i+1)
		return s.write(v)
	}
	return nil
}

// ReleaseAll forgets container id in every volume, references and mounts
// (a monitor killed before its Unmount), for removing a container whose
// record is lost or incomplete.
func (s *Store) ReleaseAll(id string) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	vols, err := s.all()
	if err != nil {
		return err
	}
	for _, v := range vols {
		if err := s.forget(v, func(c string) bool { return c == id }); err != nil {
			return err
		}
	}
	return nil
}

// Usage returns the bytes a volume's content takes, as `system df`
// counts it: the apparent size of regular files, a hard-linked file once.
func (s *Store) Usage(name string) (int64, error) {
	v, err := s.read(name)
	if err != nil {
		return 0, err
	}
	n, err := diskUsage(v.Mountpoint)
	if err != nil {
		return 0, fmt.Errorf("volume %s: usage: %w", name, err)
	}
	return n, nil
}
