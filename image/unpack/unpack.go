// Package unpack joins the image store to the snapshotters: it unpacks an
// image's layers into committed snapshots named by chain ID (each layer
// once, shared by every image that has it), chooses the snapshotter of a
// storage root, and removes the snapshots no image uses any more.
//
// Dependencies go one way: image/unpack imports image, snapshot and
// archive; none of them imports it.
//
// On disk, under the storage root (beside the image store's files):
//
//	storage-driver   "overlay" or "native": the snapshotter chosen for this root, once
//	overlay/ native/ the snapshotter's root (snapshot/overlay, snapshot/native)
//	unpack.lock      shared by unpacks, exclusive (non-blocking) for GC
package unpack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/archive"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
	"hutch.dev/hutch/snapshot"
	"hutch.dev/hutch/snapshot/native"
	"hutch.dev/hutch/snapshot/overlay"
	"hutch.dev/hutch/store"
)

// Drivers.
const (
	Overlay = "overlay"
	Native  = "native"
)

const driverFile = "storage-driver"

// Open returns the snapshotter of the storage root and its driver name.
// The first call on a root chooses: driver when given ("overlay" or
// "native"), else overlay when overlay.Supported says the root can hold
// overlay layers, else native; the choice is written to ROOT/storage-driver
// so a root never mixes the two. A later driver that differs from the
// recorded one is refused.
func Open(root, driver string) (snapshot.Snapshotter, string, error) {
	switch driver {
	case "", Overlay, Native:
	default:
		return nil, "", errdefs.InvalidArgument("storage driver %q: want overlay or native", driver)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, "", err
	}
	chosen, err := chooseDriver(root, driver)
	if err != nil {
		return nil, "", err
	}
	var sn snapshot.Snapshotter
	switch chosen {
	case Overlay:
		sn, err = overlay.New(filepath.Join(root, Overlay))
	default:
		sn, err = native.New(filepath.Join(root, Native))
	}
	if err != nil {
		return nil, "", err
	}
	return sn, chosen, nil
}

func chooseDriver(root, want string) (string, error) {
	path := filepath.Join(root, driverFile)
	read := func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		d := strings.TrimSpace(string(b))
		if d != Overlay && d != Native {
			return "", errdefs.InvalidArgument("%s: unknown storage driver %q", path, d)
		}
		return d, nil
	}
	check := func(d string) (string, error) {
		if want != "" && want != d {
			return "", errdefs.Conflict("storage root %s uses the %s storage driver, not %s", root, d, want)
		}
		return d, nil
	}
	if d, err := read(); err == nil {
		return check(d)
	} else if !os.IsNotExist(err) {
		return "", err
	}
	l, err := store.LockFile(path + ".lock")
	if err != nil {
		return "", err
	}
	defer l.Unlock()
	if d, err := read(); err == nil {
		return check(d)
	} else if !os.IsNotExist(err) {
		return "", err
	}
	d := want
	if d == "" {
		d = Native
		if overlay.Supported(root) == nil {
			d = Overlay
		}
	}
	if err := store.WriteFileAtomic(path, []byte(d+"\n"), 0o644); err != nil {
		return "", err
	}
	return d, nil
}

// lock takes ROOT/unpack.lock with how (LOCK_SH for unpacks, LOCK_EX|LOCK_NB
// for GC); ok is false when a non-blocking lock was busy.
func lock(root string, how int) (*store.Lock, bool, error) {
	return store.Flock(filepath.Join(root, "unpack.lock"), how)
}

// Unpack makes the committed snapshots of img's layers in sn, bottom first,
// each named by its chain ID on its parent's; layers already there are
// skipped. Each layer's blob is decompressed and hashed as archive.Apply
// reads it: a layer whose uncompressed digest is not its DiffID fails the
// unpack and leaves no snapshot of that layer (those below it stay: they
// are good layers, shared, and GC takes them if no image uses them).
//
// The image must be in the store's index before Unpack is called (so a GC
// running meanwhile keeps its layers).
func Unpack(ctx context.Context, s *image.Store, sn snapshot.Snapshotter, img *image.Image) error {
	l, _, err := lock(s.Root(), unix.LOCK_SH)
	if err != nil {
		return err
	}
	defer l.Unlock()
	parent := ""
	for _, layer := range img.Layers() {
		err := snapshot.Unpack(ctx, sn, string(layer.ChainID), parent, func(dir string, parents []string) error {
			return applyLayer(ctx, img, layer, dir, parents)
		})
		if err != nil {
			return fmt.Errorf("image %s: %w", img.ID, err)
		}
		parent = string(layer.ChainID)
	}
	return nil
}

func applyLayer(ctx context.Context, img *image.Image, layer image.Layer, dir string, parents []string) error {
	name := layer.Descriptor.Digest.String()
	if err := layer.DiffID.Validate(); err != nil {
		return errdefs.InvalidArgument("layer %s: diff ID %q: %v", name, layer.DiffID, err)
	}
	rc, err := img.OpenLayer(layer)
	if err != nil {
		return fmt.Errorf("layer %s: %w", name, err)
	}
	defer rc.Close()
	tr, closeTar, err := decompress(rc)
	if err != nil {
		return fmt.Errorf("layer %s: %w", name, err)
	}
	defer closeTar()
	v := layer.DiffID.Verifier()
	if _, err := archive.Apply(ctx, dir, io.TeeReader(tr, v), archive.WithLayerName(name), archive.WithParentLayers(parents...)); err != nil {
		return err
	}
	// Apply reads its input to the end, so v has seen the whole tar.
	if _, err := io.Copy(v, tr); err != nil {
		return fmt.Errorf("layer %s: %w", name, err)
	}
	if !v.Verified() {
		return errdefs.InvalidArgument("layer %s: uncompressed content does not match diff ID %s", name, layer.DiffID)
	}
	return nil
}

var (
	magicGzip = []byte{0x1f, 0x8b}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress returns the tar inside r (gzip, zstd or plain, told by its
// first bytes as archive.Apply does), decompressed in a goroutine of its
// own so that it runs beside Apply's file system work.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	var zr io.Reader
	var zclose func()
	switch {
	case bytes.HasPrefix(head, magicGzip):
		g, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, errdefs.InvalidArgument("gzip: %v", err)
		}
		zr, zclose = g, func() { g.Close() }
	case bytes.HasPrefix(head, magicZstd):
		z, err := zstd.NewReader(br, zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, nil, errdefs.InvalidArgument("zstd: %v", err)
		}
		zr, zclose = z, z.Close
	default:
		return br, func() {}, nil
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := bufio.NewWriterSize(pw, 256<<10)
		_, err := io.Copy(w, zr)
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr, func() {
		pr.CloseWithError(errors.New("layer closed"))
		<-done
		zclose()
	}, nil
}

// GC removes the committed snapshots that no image in s uses (an image uses
// the chain IDs of all its layers), from the top of each chain down, and
// the active snapshots of unpacks that died. A snapshot that is the parent
// of another (a container's, a view) is in use and stays. While an unpack
// runs GC does nothing: the next rmi or prune collects. It returns the
// names removed.
func GC(ctx context.Context, s *image.Store, sn snapshot.Snapshotter) ([]string, error) {
	l, ok, err := lock(s.Root(), unix.LOCK_EX|unix.LOCK_NB)
	if err != nil || !ok {
		return nil, err
	}
	defer l.Unlock()
	// The index is read under the lock: an image added after this is
	// unpacked after GC ends and makes its snapshots again.
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, img := range imgs {
		for _, layer := range img.Layers() {
			used[string(layer.ChainID)] = true
		}
	}
	infos := map[string]snapshot.Info{}
	err = sn.Walk(ctx, func(_ context.Context, info snapshot.Info) error {
		infos[info.Name] = info
		return nil
	})
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	// No unpack holds the shared lock: an unpack's active snapshot is left
	// by one that died.
	for name, info := range infos {
		if info.Kind == snapshot.KindActive && strings.HasPrefix(name, "unpack/") {
			if err := sn.Remove(ctx, name); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			} else {
				delete(infos, name)
			}
		}
	}
	depth := func(name string) int {
		n := 0
		for p := infos[name].Parent; p != "" && n <= len(infos); p = infos[p].Parent {
			n++
		}
		return n
	}
	var dead []string
	for name, info := range infos {
		if info.Kind == snapshot.KindCommitted && !used[name] {
			dead = append(dead, name)
		}
	}
	ds := map[string]int{}
	for _, n := range dead {
		ds[n] = depth(n)
	}
	sort.Slice(dead, func(i, j int) bool {
		if ds[dead[i]] != ds[dead[j]] {
			return ds[dead[i]] > ds[dead[j]]
		}
		return dead[i] < dead[j]
	})
	for _, name := range dead {
		err := sn.Remove(ctx, name)
		switch {
		case err == nil:
			removed = append(removed, name)
		case errdefs.IsFailedPrecondition(err), errdefs.IsNotFound(err):
			// In use (the parent of a container, a view or a layer kept),
			// or gone already.
		default:
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// ChainIDs returns the chain IDs of img's layers, bottom first, as the
// snapshot names Unpack makes.
func ChainIDs(img *image.Image) []digest.Digest {
	var out []digest.Digest
	for _, l := range img.Layers() {
		out = append(out, l.ChainID)
	}
	return out
}
