package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/runflags"
	"hutch.dev/hutch/volume"
)

// MountRequest is one -v, --mount or image VOLUME, parsed, before the
// engine resolved its volume.
type MountRequest struct {
	Type        string // bind, volume, tmpfs
	Source      string // host path, volume name, "" for an anonymous volume
	Destination string
	ReadOnly    bool
	Propagation string
	NoCopy      bool
	// Options are a tmpfs mount's options (size=, mode= ...).
	Options []string
	// CreateSource makes a missing bind source (Docker's -v does; --mount
	// refuses a missing one unless bind-create-src).
	CreateSource bool
}

// Volumes returns the volume store, which names containers in its errors.
func (e *Engine) Volumes() (*volume.Store, error) {
	return volume.Open(e.Root, volume.WithContainerLookup(func(id string) (string, bool) {
		var r struct{ Name string }
		if err := readJSONQuiet(e.recordPath(id), &r); err != nil {
			return "", !os.IsNotExist(err)
		}
		return r.Name, true
	}))
}

// resolveMounts turns the requests and the image's VOLUMEs into the
// record's mounts: named volumes are created when missing and anonymous
// ones made, all referenced by id (Acquire), so that `volume rm` refuses
// them while the container exists. undo releases what was taken.
func (e *Engine) resolveMounts(r *record, reqs []MountRequest) (undo func(), err error) {
	var taken []string
	var made []string
	vs, err := e.Volumes()
	if err != nil {
		return nil, err
	}
	release := func() {
		for _, name := range taken {
			vs.Release(name, r.ID)
		}
		for _, name := range made {
			vs.Remove(name, true)
		}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	dsts := map[string]bool{}
	var list []string
	for _, m := range reqs {
		list = append(list, m.Destination)
	}
	if err := runflags.CheckDuplicateDestinations(list...); err != nil {
		return nil, err
	}
	for _, m := range reqs {
		dsts[m.Destination] = true
	}
	// The image's VOLUMEs not covered by a mount become anonymous volumes.
	var imageVols []string
	for v := range r.Config.Volumes {
		if !dsts[filepath.Clean(v)] {
			imageVols = append(imageVols, filepath.Clean(v))
		}
	}
	sort.Strings(imageVols)
	for _, v := range imageVols {
		reqs = append(reqs, MountRequest{Type: runflags.TypeVolume, Destination: v})
	}
	for _, m := range reqs {
		mp := Mount{Type: m.Type, Destination: m.Destination, RW: !m.ReadOnly, Propagation: m.Propagation}
		if m.ReadOnly {
			mp.Mode = "ro"
		}
		switch m.Type {
		case runflags.TypeBind:
			src := filepath.Clean(m.Source)
			if _, err := os.Stat(src); err != nil {
				if !os.IsNotExist(err) || !m.CreateSource {
					return nil, errdefs.InvalidArgument("invalid mount config for type \"bind\": bind source path does not exist: %s", src)
				}
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, fmt.Errorf("bind source %s: %w", src, err)
				}
			}
			mp.Source = src
			if mp.Propagation == "" {
				mp.Propagation = "rprivate"
			}
		case runflags.TypeVolume:
			v, err := vs.Get(m.Source)
			if m.Source == "" || errdefs.IsNotFound(err) {
				if v, err = vs.Create(m.Source, volume.CreateOptions{}); err != nil {
					return nil, err
				}
				made = append(made, v.Name)
			} else if err != nil {
				return nil, err
			}
			if _, err := vs.Acquire(v.Name, r.ID); err != nil {
				return nil, err
			}
			taken = append(taken, v.Name)
			mp.Name, mp.Source, mp.Driver = v.Name, v.Mountpoint, "local"
			mp.NoCopy = m.NoCopy
		case runflags.TypeTmpfs:
			mp.Source = "tmpfs"
			mp.Options = m.Options
		default:
			return nil, errdefs.InvalidArgument("mount type %q: want bind, volume or tmpfs", m.Type)
		}
		r.Mounts = append(r.Mounts, mp)
	}
	return release, nil
}

// mountVolumes readies the record's volumes for a start: a volume with
// driver options is mounted, and an empty new volume gets the image's
// content at its mount point (copy-up), as Docker does.
func (e *Engine) mountVolumes(r *record, rootfs string) error {
	vs, err := e.Volumes()
	if err != nil {
		return err
	}
	for _, m := range r.Mounts {
		if m.Type != runflags.TypeVolume {
			continue
		}
		if _, err := vs.Mount(m.Name, r.ID); err != nil {
			return fmt.Errorf("container %q: volume %s: %w", r.Name, m.Name, err)
		}
		if !m.NoCopy {
			if _, err := vs.CopyUp(m.Name, rootfs, m.Destination); err != nil {
				return fmt.Errorf("container %q: volume %s: copy the image's %s: %w", r.Name, m.Name, m.Destination, err)
			}
		}
	}
	return nil
}

// unmountVolumes undoes mountVolumes' mounts.
func (e *Engine) unmountVolumes(r *record) {
	vs, err := e.Volumes()
	if err != nil {
		return
	}
	for _, m := range r.Mounts {
		if m.Type == runflags.TypeVolume {
			vs.Unmount(m.Name, r.ID)
		}
	}
}

// releaseVolumes drops the container's references; with removeAnonymous
// (rm -v, --rm) its anonymous volumes go too, as Docker's.
func (e *Engine) releaseVolumes(r *record, removeAnonymous bool) error {
	vs, err := e.Volumes()
	if err != nil {
		return err
	}
	// The record's volumes, and any the store says the container holds
	// (a create killed before it recorded a volume it had made).
	names := map[string]bool{}
	for _, m := range r.Mounts {
		if m.Type == runflags.TypeVolume {
			names[m.Name] = true
		}
	}
	if all, err := vs.List(volume.Filters{}); err == nil {
		for _, v := range all {
			if slices.Contains(v.UsedBy, r.ID) {
				names[v.Name] = true
			}
		}
	}
	var errs []string
	for name := range names {
		if err := vs.Release(name, r.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err.Error())
			continue
		}
		if removeAnonymous {
			if v, err := vs.Get(name); err == nil && v.Anonymous {
				if err := vs.Remove(name, false); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
					errs = append(errs, err.Error())
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// volumeSpecMounts are the record's mounts in the runtime spec's form.
func volumeSpecMounts(r *record) []specs.Mount {
	var out []specs.Mount
	for _, m := range r.Mounts {
		switch m.Type {
		case runflags.TypeTmpfs:
			opts := append([]string{"nosuid", "nodev", "noexec"}, m.Options...)
			out = append(out, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: opts})
		default:
			opts := []string{"rbind"}
			if !m.RW {
				opts = append(opts, "ro")
			}
			if m.Propagation != "" {
				opts = append(opts, m.Propagation)
			} else {
				opts = append(opts, "rprivate")
			}
			out = append(out, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
		}
	}
	return out
}
