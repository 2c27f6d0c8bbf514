package engine

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
	"hutch.dev/hutch/volume"
)

// PruneFilters are `container prune --filter` and `system prune
// --filter`: until= and label=/label!=.
type PruneFilters struct {
	Until     time.Time // only containers created before it (zero: any)
	Labels    []string  // KEY or KEY=VALUE: all must match
	NotLabels []string  // KEY or KEY=VALUE: none may match
}

// ParsePruneFilters parses --filter values as Docker does: until= takes a
// Unix time, an RFC 3339 date or time, or a duration back from now (10m);
// label= and label!= take KEY or KEY=VALUE.
func ParsePruneFilters(args []string) (PruneFilters, error) {
	var f PruneFilters
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if ok && strings.HasSuffix(k, "!") {
			k, ok = k+"=", true
		}
		switch {
		case !ok:
			return PruneFilters{}, errdefs.InvalidArgument("bad format of filter (expected name=value): %s", a)
		case k == "until":
			t, err := parseUntil(v, time.Now())
			if err != nil {
				return PruneFilters{}, err
			}
			f.Until = t
		case k == "label":
			f.Labels = append(f.Labels, v)
		case k == "label!=":
			f.NotLabels = append(f.NotLabels, v)
		default:
			return PruneFilters{}, errdefs.InvalidArgument("invalid filter '%s'", strings.TrimSuffix(k, "="))
		}
	}
	return f, nil
}

func parseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if sec, frac, _ := strings.Cut(v, "."); sec != "" && strings.Trim(sec, "0123456789") == "" {
		s, err := strconv.ParseInt(sec, 10, 64)
		if err == nil {
			var ns int64
			if frac != "" {
				frac = (frac + "000000000")[:9]
				if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
					return time.Time{}, errdefs.InvalidArgument("invalid filter 'until=%s'", v)
				}
			}
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errdefs.InvalidArgument("invalid filter 'until=%s': want a Unix time, an RFC 3339 time or a duration", v)
}

func (f PruneFilters) match(c *Container) bool {
	if !f.Until.IsZero() && !c.Created.Before(f.Until) {
		return false
	}
	for _, l := range f.Labels {
		if !hasLabel(c.Config.Labels, l) {
			return false
		}
	}
	for _, l := range f.NotLabels {
		if hasLabel(c.Config.Labels, l) {
			return false
		}
	}
	return true
}

func hasLabel(labels map[string]string, l string) bool {
	k, v, withValue := strings.Cut(l, "=")
	got, ok := labels[k]
	return ok && (!withValue || got == v)
}

// PruneReport is what a prune removed and the bytes it gave back.
type PruneReport struct {
	Containers []string // IDs
	Untagged   []string // image names
	Images     []digest.Digest
	Volumes    []string
	Reclaimed  int64
}

// PruneContainers removes every container that does not run (created,
// exited, dead) and matches f. The space reclaimed is that of their
// writable layers. A container started meanwhile is left alone.
func (e *Engine) PruneContainers(ctx context.Context, f PruneFilters) (*PruneReport, error) {
	if err := e.open(); err != nil {
		return nil, err
	}
	cs, err := e.List()
	if err != nil {
		return nil, err
	}
	rep := &PruneReport{}
	var errs []error
	for _, c := range slices.Backward(cs) { // oldest first
		if c.State.Running || !f.match(c) {
			continue
		}
		u, _ := e.sn.Usage(ctx, c.Snapshot)
		if err := e.Remove(ctx, c.ID, false, false); err != nil {
			if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
				continue // removed, or started, by another command
			}
			errs = append(errs, err)
			continue
		}
		rep.Containers = append(rep.Containers, c.ID)
		rep.Reclaimed += u.Size
	}
	if len(errs) > 0 {
		return rep, errs[0]
	}
	return rep, nil
}

// PruneImages removes the dangling images (with all, every image) that no
// container uses, then the blobs that only they held. The space
// reclaimed is the size of those blobs. Unpacked layers are the layer
// GC's business.
func (e *Engine) PruneImages(ctx context.Context, all bool) (*PruneReport, error) {
	if err := e.open(); err != nil {
		return nil, err
	}
	used, err := e.imagesInUse()
	if err != nil {
		return nil, err
	}
	imgs, err := e.images.Images()
	if err != nil {
		return nil, err
	}
	rep := &PruneReport{}
	keep := map[digest.Digest]int64{}
	var gone []*image.Image
	for _, img := range imgs {
		if used[img.ID] || !all && !img.Dangling() {
			maps.Copy(keep, blobsOf(img))
			continue
		}
		gone = append(gone, img)
	}
	freed := map[digest.Digest]int64{}
	for _, img := range gone {
		res, err := e.images.Remove(img.Digest.String(), true)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return rep, err
		}
		rep.Untagged = append(rep.Untagged, res.Untagged...)
		rep.Images = append(rep.Images, res.Deleted...)
		for d, n := range blobsOf(img) {
			if _, ok := keep[d]; !ok {
				freed[d] = n
			}
		}
	}
	for _, n := range freed {
		rep.Reclaimed += n
	}
	return rep, nil
}

// imagesInUse are the image IDs that containers were made from.
func (e *Engine) imagesInUse() (map[digest.Digest]bool, error) {
	cs, err := e.List()
	if err != nil {
		return nil, err
	}
	used := map[digest.Digest]bool{}
	for _, c := range cs {
		used[digest.Digest(c.ImageID)] = true
	}
	return used, nil
}

// blobsOf maps the blobs of img (manifest, config, layers) to their sizes.
func blobsOf(img *image.Image) map[digest.Digest]int64 {
	b := map[digest.Digest]int64{
		img.Digest: int64(len(img.RawManifest)),
		img.ID:     int64(len(img.RawConfig)),
	}
	for _, l := range img.Manifest.Layers {
		b[digest.Digest(l.Digest.String())] = l.Size
	}
	return b
}

// PruneVolumes removes the anonymous volumes no container uses (with
// all, named ones too), as `docker system prune --volumes`.
func (e *Engine) PruneVolumes(all bool) (*PruneReport, error) {
	vs, err := e.volumes()
	if err != nil || vs == nil {
		return &PruneReport{}, err
	}
	removed, n, err := vs.Prune(volume.Filters{All: all})
	return &PruneReport{Volumes: removed, Reclaimed: n}, err
}

// volumes opens the volume store, or returns nil when the root has none
// (nothing made one yet: a look must not create it).
func (e *Engine) volumes() (*volume.Store, error) {
	if _, err := os.Stat(filepath.Join(e.Root, "volumes")); os.IsNotExist(err) {
		return nil, nil
	}
	return volume.Open(e.Root, volume.WithContainerLookup(func(id string) (string, bool) {
		r, err := e.readRecord(id)
		if err != nil {
			return "", !errdefs.IsNotFound(err)
		}
		return r.Name, true
	}))
}
