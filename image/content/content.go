// Package content is Hutch's content-addressed blob store.
//
// Blobs live at ROOT/blobs/sha256/HEX and are immutable. A blob only ever
// appears there by a rename of a fully written, fsynced temp file whose
// sha256 (and size, when known) matched what the caller expected, so a
// reader never sees a partial or corrupt blob, even after SIGKILL or a
// power cut mid-write.
//
// Writes in progress live in ROOT/ingest/KEY/ (a data file and a lock).
// A write that is interrupted leaves its data there; the next writer of the
// same blob re-hashes that prefix and continues from its end (a pull asks
// the registry for the rest with a Range request). Stale ingests are
// removed by Prune.
package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// Store is a content-addressed blob store rooted at a directory.
type Store struct {
	root string
}

// Info describes a stored blob.
type Info struct {
	Digest digest.Digest
	Size   int64
}

// New opens (creating as needed) the store under root.
func New(root string) (*Store, error) {
	for _, d := range []string{filepath.Join(root, "blobs", "sha256"), filepath.Join(root, "ingest")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("content store: %w", err)
		}
	}
	return &Store{root: root}, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// Path is where the blob with digest d lives (whether or not it exists).
func (s *Store) Path(d digest.Digest) (string, error) {
	if err := validate(d); err != nil {
		return "", err
	}
	return filepath.Join(s.root, "blobs", "sha256", d.Encoded()), nil
}

func validate(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return errdefs.InvalidArgument("digest %q: %v", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return errdefs.NotImplemented("digest %s: only sha256 is supported", d)
	}
	return nil
}

// Info returns the size of blob d, or a NotFound error.
func (s *Store) Info(d digest.Digest) (Info, error) {
	p, err := s.Path(d)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, errdefs.NotFound("blob %s: not found", d)
		}
		return Info{}, fmt.Errorf("blob %s: %w", d, err)
	}
	return Info{Digest: d, Size: st.Size()}, nil
}

// Has reports whether blob d is stored.
func (s *Store) Has(d digest.Digest) bool {
	_, err := s.Info(d)
	return err == nil
}

// Open returns a reader of blob d (an *os.File, so it can seek).
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	p, err := s.Path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound("blob %s: not found", d)
		}
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return f, nil
}

// Get reads the whole of blob d; meant for manifests and configs.
func (s *Store) Get(d digest.Digest) ([]byte, error) {
	f, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return b, nil
}

// Delete removes blob d; deleting a missing blob is not an error.
func (s *Store) Delete(d digest.Digest) error {
	p, err := s.Path(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s: delete: %w", d, err)
	}
	return nil
}

// Walk calls fn for every stored blob. Files that are not named by a
// sha256 hex digest are skipped.
func (s *Store) Walk(fn func(Info) error) error {
	dir := filepath.Join(s.root, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("content store: %w", err)
	}
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if err := fn(Info{Digest: d, Size: fi.Size()}); err != nil {
			return err
		}
	}
	return nil
}

// Verify re-hashes blob d and reports a mismatch as an error.
func (s *Store) Verify(d digest.Digest) error {
	f, err := s.Open(d)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("blob %s: verify: %w", d, err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != d {
		return fmt.Errorf("blob %s: verify: content hashes to %s", d, got)
	}
	return nil
}

// WriteBlob stores the content of r as blob expected (size -1 when not
// known) and returns its digest. An empty expected digest stores whatever
// r holds under its own digest. An already stored blob is not rewritten
// (r is not read).
func (s *Store) WriteBlob(ctx context.Context, r io.Reader, expected digest.Digest, size int64) (digest.Digest, error) {
	if expected != "" && s.Has(expected) {
		return expected, nil
	}
	w, err := s.Writer(expected, size)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return expected, nil
		}
		return "", err
	}
	defer w.Close()
	if w.Offset() > 0 {
		// A plain reader cannot seek: start again.
		if err := w.Truncate(); err != nil {
			return "", err
		}
	}
	if _, err := io.Copy(w, ctxReader{ctx, r}); err != nil {
		return "", err
	}
	return w.Commit()
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Writer writes one blob through the ingest area. Write appends; Commit
// verifies and publishes; Close without Commit keeps what was written for
// a later writer of the same blob to resume (only when the digest was
// given: an anonymous ingest is removed).
type Writer struct {
	s        *Store
	dir      string // ROOT/ingest/KEY
	f        *os.File
	lock     *os.File
	h        hash.Hash
	offset   int64
	expected digest.Digest
	size     int64
	done     bool
}

// Writer opens the ingest for blob expected (or an anonymous one when
// expected is empty). It takes the ingest's lock, waiting while another
// process writes the same blob; once the lock is ours, a blob that got
// stored meanwhile gives an AlreadyExists error. Existing partial data is
// re-hashed and kept, so Offset tells where to continue; data longer than
// size is dropped.
func (s *Store) Writer(expected digest.Digest, size int64) (*Writer, error) {
	key := ""
	if expected != "" {
		if err := validate(expected); err != nil {
			return nil, err
		}
		key = expected.Encoded()
	} else {
		var b [12]byte
		if _, err := io.ReadFull(randReader, b[:]); err != nil {
			return nil, err
		}
		key = "anon-" + hex.EncodeToString(b[:])
	}
	dir := filepath.Join(s.root, "ingest", key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ingest %s: %w", key, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// The writer before us committed and removed the directory.
		return s.Writer(expected, size)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest %s: %w", key, err)
	}
	if err := flock(lock, unix.LOCK_EX); err != nil {
		lock.Close()
		return nil, fmt.Errorf("ingest %s: lock: %w", key, err)
	}
	w := &Writer{s: s, dir: dir, lock: lock, h: sha256.New(), expected: expected, size: size}
	if expected != "" && s.Has(expected) {
		w.release(true)
		return nil, errdefs.AlreadyExists("blob %s: already exists", expected)
	}
	// The lock directory may have been removed by the writer that held it
	// before us (Commit removes it); start over on a fresh one if so.
	if _, err := os.Stat(filepath.Join(dir, "lock")); err != nil {
		lock.Close()
		return s.Writer(expected, size)
	}
	w.f, err = os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		w.release(false)
		return nil, fmt.Errorf("ingest %s: %w", key, err)
	}
	// Re-hash what an earlier, interrupted writer left.
	n, err := io.Copy(w.h, w.f)
	if err != nil || (size >= 0 && n > size) {
		if err := w.Truncate(); err != nil {
			w.release(false)
			return nil, err
		}
		n = 0
	}
	w.offset = n
	os.Chtimes(filepath.Join(dir, "lock"), time.Now(), time.Now())
	return w, nil
}

// Offset is how many bytes the ingest already holds.
func (w *Writer) Offset() int64 { return w.offset }

// Truncate drops what the ingest holds and starts from zero.
func (w *Writer) Truncate() error {
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	w.h.Reset()
	w.offset = 0
	return nil
}

// Write appends p to the ingest.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("ingest: %w", err)
	}
	if w.size >= 0 && w.offset > w.size {
		return n, fmt.Errorf("blob %s: more than the expected %d bytes", w.expected, w.size)
	}
	return n, nil
}

// Digest is the digest of what was written so far.
func (w *Writer) Digest() digest.Digest { return digest.NewDigest(digest.SHA256, w.h) }

// Commit checks size and digest, then publishes the blob. On a mismatch
// the ingest is discarded (it could never become the right blob) and an
// error naming both digests is returned.
func (w *Writer) Commit() (digest.Digest, error) {
	got := w.Digest()
	if w.size >= 0 && w.offset != w.size {
		w.discard()
		return "", fmt.Errorf("blob %s: size %d, expected %d", w.label(), w.offset, w.size)
	}
	if w.expected != "" && got != w.expected {
		w.discard()
		return "", fmt.Errorf("blob %s: content hashes to %s: refused", w.expected, got)
	}
	if err := w.f.Sync(); err != nil {
		return "", fmt.Errorf("blob %s: sync: %w", got, err)
	}
	if err := w.f.Chmod(0o644); err != nil {
		return "", fmt.Errorf("blob %s: %w", got, err)
	}
	dst, _ := w.s.Path(got)
	if err := os.Rename(filepath.Join(w.dir, "data"), dst); err != nil {
		return "", fmt.Errorf("blob %s: %w", got, err)
	}
	syncDir(filepath.Dir(dst))
	w.done = true
	w.discard()
	return got, nil
}

func (w *Writer) label() digest.Digest {
	if w.expected != "" {
		return w.expected
	}
	return w.Digest()
}

// discard removes the ingest directory while still holding its lock.
func (w *Writer) discard() {
	os.RemoveAll(w.dir)
	w.done = true
}

// Close releases the ingest. An unfinished ingest of a known digest is kept
// for resumption; an anonymous one is removed.
func (w *Writer) Close() error {
	if !w.done && w.expected == "" {
		w.discard()
	}
	w.release(false)
	return nil
}

func (w *Writer) release(removeIfEmpty bool) {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if removeIfEmpty {
		if _, err := os.Stat(filepath.Join(w.dir, "data")); err != nil {
			os.RemoveAll(w.dir)
		}
	}
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
	}
}

// Prune removes ingests untouched for longer than age that no process is
// writing (their lock is free), and any whose blob is already stored.
// It returns how many it removed.
func (s *Store) Prune(age time.Duration) (int, error) {
	dir := filepath.Join(s.root, "ingest")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("content store: %w", err)
	}
	n := 0
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		lock, err := os.OpenFile(filepath.Join(p, "lock"), os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				os.RemoveAll(p)
				n++
			}
			continue
		}
		if flock(lock, unix.LOCK_EX|unix.LOCK_NB) != nil {
			lock.Close()
			continue // a writer holds it
		}
		stored := !strings.HasPrefix(e.Name(), "anon-") && s.Has(digest.NewDigestFromEncoded(digest.SHA256, e.Name()))
		st, err := os.Stat(filepath.Join(p, "lock"))
		old := err != nil || time.Since(newest(p, st.ModTime())) > age
		if stored || old || strings.HasPrefix(e.Name(), "anon-") {
			os.RemoveAll(p)
			n++
		}
		lock.Close()
	}
	return n, nil
}

func newest(dir string, t time.Time) time.Time {
	if st, err := os.Stat(filepath.Join(dir, "data")); err == nil && st.ModTime().After(t) {
		return st.ModTime()
	}
	return t
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
