// Package saveload moves images between the store and files: docker-archive
// tarballs (`docker save` / `docker load` format), OCI image layouts (a
// directory, or an OCI archive: the same as a tar), and rootfs tarballs
// (import). go-containerregistry writes the docker-archive and the OCI
// layout; reading is ours so that layers are stored in one pass.
package saveload

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
	"hutch.dev/hutch/image/reference"
)

// Format names an archive format.
type Format string

const (
	DockerArchive Format = "docker-archive"
	OCIArchive    Format = "oci-archive"
	OCIDir        Format = "oci-dir"
)

// Annotations used in OCI layouts: the OCI one holds the tag, containerd's
// the full name (as containerd and BuildKit write them).
const (
	annotRefName   = "org.opencontainers.image.ref.name"
	annotImageName = "io.containerd.image.name"
)

type saved struct {
	img  *image.Image
	v    v1.Image
	tags []name.Tag
}

func resolve(s *image.Store, refs []string) ([]saved, error) {
	var out []saved
	for _, r := range refs {
		img, err := s.Get(r)
		if err != nil {
			return nil, err
		}
		v, err := img.V1()
		if err != nil {
			return nil, err
		}
		sv := saved{img: img, v: v}
		// A name saves that name; an ID saves the image's names.
		names := img.Names
		if full, err := reference.Normalize(r); err == nil && strings.Contains(full, ":") && !strings.Contains(full, "@") && contains(img.Names, full) {
			names = []string{full}
		}
		for _, n := range names {
			t, err := name.NewTag(n)
			if err != nil {
				return nil, err
			}
			sv.tags = append(sv.tags, t)
		}
		out = append(out, sv)
	}
	return out, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Save writes the images refs name to dst in format f (a file for the
// archives, a directory for oci-dir).
func Save(ctx context.Context, s *image.Store, dst string, f Format, refs []string) error {
	imgs, err := resolve(s, refs)
	if err != nil {
		return err
	}
	switch f {
	case DockerArchive, "":
		m := map[name.Reference]v1.Image{}
		for _, sv := range imgs {
			for _, t := range sv.tags {
				m[t] = sv.v
			}
			if len(sv.tags) == 0 {
				d, err := name.NewDigest("hutch/untagged@" + sv.img.Digest.String())
				if err != nil {
					return err
				}
				m[d] = sv.v
			}
		}
		return writeFileAtomic(dst, func(w io.Writer) error { return tarball.MultiRefWrite(m, w) })
	case OCIDir:
		return writeLayout(dst, imgs)
	case OCIArchive:
		tmp, err := os.MkdirTemp(filepath.Dir(dst), ".hutch-oci-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := writeLayout(tmp, imgs); err != nil {
			return err
		}
		return writeFileAtomic(dst, func(w io.Writer) error { return tarDir(w, tmp) })
	}
	return errdefs.InvalidArgument("format %q: not one of docker-archive, oci-archive, oci-dir", f)
}

func writeLayout(dir string, imgs []saved) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("oci layout %s: %w", dir, err)
		}
	}
	for _, sv := range imgs {
		var opts []layout.Option
		for _, t := range sv.tags {
			opts = []layout.Option{layout.WithAnnotations(map[string]string{
				annotRefName:   t.TagStr(),
				annotImageName: reference.String(t),
			})}
			break // one descriptor per image; the first name
		}
		if err := p.AppendImage(sv.v, opts...); err != nil {
			return fmt.Errorf("oci layout %s: %w", dir, err)
		}
	}
	return nil
}

func writeFileAtomic(dst string, write func(io.Writer) error) error {
	if dst == "-" {
		return write(os.Stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	if err = write(f); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save %s: %w", dst, err)
	}
	return nil
}

func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// LoadOptions tune Load.
type LoadOptions struct {
	Platform *v1.Platform
	Progress image.ProgressFunc
}

// Load stores every image of src: a docker-archive tarball, an OCI
// archive, or an OCI layout directory.
func Load(ctx context.Context, s *image.Store, src string, o LoadOptions) ([]*image.Image, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", src, err)
	}
	if st.IsDir() {
		return LoadLayout(ctx, s, src, "", o)
	}
	entries, err := tarNames(src)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", src, err)
	}
	switch {
	case entries["manifest.json"]:
		return loadDockerArchive(ctx, s, src, o)
	case entries["oci-layout"] && entries["index.json"]:
		tmp, err := os.MkdirTemp(s.Root(), ".load-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		if err := untar(src, tmp); err != nil {
			return nil, fmt.Errorf("load %s: %w", src, err)
		}
		return LoadLayout(ctx, s, tmp, "", o)
	}
	return nil, errdefs.InvalidArgument("load %s: neither a docker-archive (manifest.json) nor an OCI archive (oci-layout, index.json)", src)
}

func tarNames(file string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out[path.Clean(h.Name)] = true
	}
}

// openEntry opens the named entry of a tar file (following a symbolic or
// hard link inside the archive, as legacy `docker save` writes for shared
// layers).
func openEntry(file, entry string) (io.ReadCloser, error) {
	for range 8 {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(f)
		var h *tar.Header
		for {
			h, err = tr.Next()
			if err != nil {
				break
			}
			if path.Clean(h.Name) == path.Clean(entry) {
				break
			}
		}
		if err != nil {
			f.Close()
			if err == io.EOF {
				return nil, errdefs.NotFound("%s: no entry %s", file, entry)
			}
			return nil, err
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			f.Close()
			entry = path.Join(path.Dir(entry), h.Linkname)
			continue
		case tar.TypeLink:
			f.Close()
			entry = h.Linkname
			continue
		}
		return struct {
			io.Reader
			io.Closer
		}{tr, f}, nil
	}
	return nil, fmt.Errorf("%s: %s: too many links", file, entry)
}

func loadDockerArchive(ctx context.Context, s *image.Store, file string, o LoadOptions) ([]*image.Image, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	var out []*image.Image
	for _, d := range m {
		rc, err := openEntry(file, d.Config)
		if err != nil {
			return nil, fmt.Errorf("load %s: config: %w", file, err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("load %s: config: %w", file, err)
		}
		var layers []image.LayerOpener
		for _, l := range d.Layers {
			layers = append(layers, func() (io.ReadCloser, error) { return openEntry(file, l) })
		}
		img, err := s.Build(ctx, image.BuildOptions{RawConfig: raw, Layers: layers, Docker: true, Names: d.RepoTags, Progress: o.Progress})
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
		out = append(out, img)
	}
	return out, nil
}

// untar extracts an OCI archive (regular files and directories only: an
// image layout has nothing else) into dir, refusing paths that leave it.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		rel := path.Clean("/" + h.Name)[1:]
		if rel == "" {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr)
			w.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unexpected entry type %c in an OCI archive", h.Name, h.Typeflag)
		}
	}
}

// LoadLayout stores the images of the OCI layout dir; with want set, only
// the entry whose ref.name (tag) or full name is want.
func LoadLayout(ctx context.Context, s *image.Store, dir, want string, o LoadOptions) ([]*image.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, errdefs.InvalidArgument("oci layout %s: %v", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: %w", dir, err)
	}
	fetch := func(_ context.Context, d v1.Descriptor, offset int64) (io.ReadCloser, bool, error) {
		f, err := os.Open(filepath.Join(dir, "blobs", d.Digest.Algorithm, d.Digest.Hex))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, false, errdefs.NotFound("oci layout %s: blob %s: not found", dir, d.Digest)
			}
			return nil, false, err
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, false, err
		}
		return f, true, nil
	}
	var out []*image.Image
	for _, d := range im.Manifests {
		full := d.Annotations[annotImageName]
		tag := d.Annotations[annotRefName]
		if want != "" && want != tag && want != full {
			continue
		}
		if full == "" && strings.ContainsAny(tag, "/:") {
			full = tag
		}
		var names []string
		if full != "" {
			if n, err := reference.Normalize(full); err == nil && !strings.Contains(n, "@") {
				names = []string{n}
			}
		}
		manifest, index := []byte(nil), []byte(nil)
		if image.IsIndex(d.MediaType) {
			if index, err = p.Bytes(d.Digest); err != nil {
				return nil, err
			}
			child, err := chooseFromLayout(p, d, o.Platform)
			if err != nil {
				return nil, fmt.Errorf("oci layout %s: %w", dir, err)
			}
			d = child
		}
		if manifest, err = p.Bytes(d.Digest); err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", dir, err)
		}
		img, err := s.Put(ctx, image.PutOptions{Manifest: manifest, Index: index, Fetch: fetch, Names: names, Progress: o.Progress})
		if err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", dir, err)
		}
		out = append(out, img)
	}
	if len(out) == 0 {
		if want != "" {
			return nil, errdefs.NotFound("oci layout %s: no image %q", dir, want)
		}
		return nil, errdefs.NotFound("oci layout %s: no images", dir)
	}
	return out, nil
}

func chooseFromLayout(p layout.Path, d v1.Descriptor, want *v1.Platform) (v1.Descriptor, error) {
	ii, err := p.ImageIndex()
	if err != nil {
		return v1.Descriptor{}, err
	}
	child, err := ii.ImageIndex(d.Digest)
	if err != nil {
		return v1.Descriptor{}, err
	}
	im, err := child.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	w := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if want != nil {
		w = *want
	}
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.Satisfies(w) && !image.IsIndex(m.MediaType) {
			return m, nil
		}
	}
	return v1.Descriptor{}, errdefs.NotFound("no image for platform %s in index %s", w.String(), d.Digest)
}

// ImportOptions describe the image `hutch import` makes.
type ImportOptions struct {
	Name    string
	Config  v1.Config // Cmd, Entrypoint, Env, WorkingDir ... (from --change)
	Message string    // the history comment
}

// Import stores a one-layer image whose layer is the rootfs tarball r
// (plain, gzip or zstd).
func Import(ctx context.Context, s *image.Store, r io.Reader, o ImportOptions) (*image.Image, error) {
	now := time.Now().UTC()
	cfg := &v1.ConfigFile{
		Created:      v1.Time{Time: now},
		OS:           "linux",
		Architecture: runtime.GOARCH,
		Config:       o.Config,
		History:      []v1.History{{Created: v1.Time{Time: now}, CreatedBy: "hutch import", Comment: o.Message}},
	}
	var names []string
	if o.Name != "" {
		names = []string{o.Name}
	}
	used := false
	return s.Build(ctx, image.BuildOptions{
		Config: cfg,
		Layers: []image.LayerOpener{func() (io.ReadCloser, error) {
			if used {
				return nil, errors.New("import: the tarball can only be read once")
			}
			used = true
			return io.NopCloser(r), nil
		}},
		Names: names,
	})
}
