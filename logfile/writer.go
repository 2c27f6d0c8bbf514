package logfile

import (
	"errors"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Options are a Writer's rotation settings, Docker's --log-opt max-size,
// max-file.
type Options struct {
	// MaxSize is the largest a file may grow, in bytes; 0 never rotates.
	// An entry that would take the file past MaxSize goes to a new file, so
	// files stay at or under MaxSize unless one entry alone is bigger (an
	// entry is at most MaxLine bytes of log, about 100 KiB once escaped).
	MaxSize int64
	// MaxFiles is how many files are kept, the live one included: path,
	// path.1 (the newest rotated one), ... path.(MaxFiles-1). 0 means 1,
	// as Docker: the file starts afresh when full.
	MaxFiles int
}

// Writer appends entries to a json-file log and rotates it. It is safe for
// concurrent use. While it is open it holds an exclusive flock on the live
// file: that is how readers following the log know a writer is still there
// (see Active), and how a second writer on the same log is refused.
type Writer struct {
	mu      sync.Mutex
	path    string
	opts    Options
	f       *os.File
	size    int64
	buf     []byte
	broken  bool // the last write was cut short: start the next with "\n"
	streams []*LineWriter
	closed  bool
}

// tmpSuffix names the file a rotation prepares before it renames it into
// place, so that path always exists and is always a whole log file.
const tmpSuffix = ".tmp"

var errClosed = errors.New("log writer closed")

// Open opens the log at path for appending, creating it if needed. A file
// left by a writer killed in the middle of a line is ended with "\n" first,
// so that the cut line reads as one corrupt entry (which readers skip)
// instead of swallowing the next one.
func Open(path string, opts Options) (*Writer, error) {
	if opts.MaxSize < 0 {
		return nil, &os.PathError{Op: "open log", Path: path, Err: errors.New("negative max-size")}
	}
	if opts.MaxFiles < 0 {
		return nil, &os.PathError{Op: "open log", Path: path, Err: errors.New("negative max-file")}
	}
	if opts.MaxFiles == 0 {
		opts.MaxFiles = 1
	}
	w := &Writer{path: path, opts: opts}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	switch {
	case err == nil:
		if err := lockWriter(f); err != nil {
			f.Close()
			return nil, &os.PathError{Op: "lock log", Path: path, Err: err}
		}
		w.f = f
		if err := w.resume(); err != nil {
			f.Close()
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		if w.f, err = w.create(); err != nil {
			return nil, err
		}
		if err := os.Rename(path+tmpSuffix, path); err != nil {
			w.f.Close()
			os.Remove(path + tmpSuffix)
			return nil, err
		}
	default:
		return nil, err
	}
	return w, nil
}

// resume prepares an existing live file for appending: it learns its size,
// ends a line cut short by a killed writer, and undoes a rotation that
// stopped between its link and its rename (path.1 and path the same file).
func (w *Writer) resume() error {
	fi, err := w.f.Stat()
	if err != nil {
		return err
	}
	w.size = fi.Size()
	if w.size > 0 {
		var last [1]byte
		if _, err := w.f.ReadAt(last[:], w.size-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			if _, err := w.f.Write([]byte{'\n'}); err != nil {
				return &os.PathError{Op: "write", Path: w.path, Err: err}
			}
			w.size++
		}
	}
	if fi1, err := os.Stat(w.rotated(1)); err == nil && os.SameFile(fi, fi1) {
		os.Remove(w.rotated(1))
	}
	// Left by a writer that died in a rotation; only removed under the
	// lock, so never from under a live writer.
	os.Remove(w.path + tmpSuffix)
	return nil
}

// create makes a fresh, locked file at path+".tmp"; the caller renames it.
func (w *Writer) create() (*os.File, error) {
	tmp := w.path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, err
	}
	if err := lockWriter(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, &os.PathError{Op: "lock log", Path: tmp, Err: err}
	}
	return f, nil
}

func (w *Writer) rotated(n int) string { return w.path + "." + strconv.Itoa(n) }

// WriteLine writes one line of output of stream ("stdout" or "stderr") logged
// at t. A line that ends in "\n" is a whole line; one that does not is a
// partial entry, as Docker writes a line cut by its buffer or by the end of
// the stream. A line longer than MaxLine is written as several entries, all
// but the last partial, all with the time t. line should hold no "\n" but
// the last byte; that is not checked.
func (w *Writer) WriteLine(stream string, line []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(line) > MaxLine {
		if err := w.queue(stream, line[:MaxLine], t); err != nil {
			return err
		}
		line = line[MaxLine:]
	}
	if err := w.queue(stream, line, t); err != nil {
		return err
	}
	return w.flushBuf()
}

// flushAt is how much encoded output the Writer gathers before it writes:
// a LineWriter.Write of many lines costs one write(2) per 32 KiB, not one
// per line. bufMax bounds the buffer: an entry that might not fit (its log
// escaped at six bytes a byte) is preceded by a write of what is there.
const (
	flushAt = 32 << 10
	bufMax  = 128 << 10
)

// queue encodes one entry into the Writer's buffer. When the entry would
// take the file past MaxSize, what is buffered goes to the file first and
// the entry starts the next one.
func (w *Writer) queue(stream string, log []byte, t time.Time) error {
	if w.closed {
		return errClosed
	}
	if len(log) == 0 {
		return nil
	}
	if len(w.buf) > 0 && len(w.buf)+6*len(log)+len(stream)+128 > bufMax {
		if err := w.flushBuf(); err != nil {
			return err
		}
	}
	start := len(w.buf)
	w.buf = appendEntry(w.buf, stream, log, t)
	size := w.size + int64(len(w.buf))
	if w.broken {
		size++ // the "\n" that ends the cut entry
	}
	if w.opts.MaxSize > 0 && w.size+int64(start) > 0 && size > w.opts.MaxSize {
		n := len(w.buf) - start
		if err := w.write(w.buf[:start]); err != nil {
			w.buf = w.buf[:0]
			return err
		}
		if err := w.rotate(); err != nil {
			w.buf = w.buf[:0]
			return err
		}
		copy(w.buf, w.buf[start:])
		w.buf = w.buf[:n]
	}
	if len(w.buf) >= flushAt {
		return w.flushBuf()
	}
	return nil
}

// flushBuf writes the buffered entries.
func (w *Writer) flushBuf() error {
	err := w.write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// write writes whole entries to the file with one write(2), so a reader
// never sees an entry mixed with another, and a crash cuts at most the last
// one. After a write that was cut short (a full disk), the next starts with
// "\n" so the cut entry stays one bad line instead of spoiling the next.
func (w *Writer) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if w.broken {
		if _, err := w.f.Write([]byte{'\n'}); err != nil {
			return err
		}
		w.size++
		w.broken = false
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	w.broken = n > 0 && n < len(p)
	return err
}

// rotate moves the live file aside and starts a new one, so that at every
// moment path names a whole log file and the rotated ones are, newest first,
// path.1, path.2, ...:
//
//  1. create and lock path.tmp (a failure here leaves everything as it was);
//  2. drop path.(MaxFiles-1), rename path.k to path.(k+1) from the oldest down;
//  3. link path to path.1 (for a moment the file has both names: readers
//     tell files apart by inode, so they do not read it twice);
//  4. rename path.tmp over path, atomically;
//  5. close the old file, which releases its lock.
//
// A reader following the old file sees path change inode in step 4 while the
// old file still holds every byte written to it; it reads to its end and goes
// on with the new one (see Read). With MaxFiles 1 steps 2 and 3 are skipped:
// the old file is unlinked by the rename, and lives on only for readers that
// have it open.
func (w *Writer) rotate() error {
	nf, err := w.create()
	if err != nil {
		return err
	}
	tmp := w.path + tmpSuffix
	fail := func(err error) error {
		nf.Close()
		os.Remove(tmp)
		return err
	}
	if w.opts.MaxFiles > 1 {
		if err := removeRotated(w.rotated(w.opts.MaxFiles - 1)); err != nil {
			return fail(err)
		}
		for k := w.opts.MaxFiles - 2; k >= 1; k-- {
			if err := os.Rename(w.rotated(k), w.rotated(k+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fail(err)
			}
		}
		if err := os.Link(w.path, w.rotated(1)); err != nil {
			// No hard links here (some FUSE file systems): rename instead,
			// and readers see path missing for a moment.
			if err := os.Rename(w.path, w.rotated(1)); err != nil {
				return fail(err)
			}
		}
	}
	if err := os.Rename(tmp, w.path); err != nil {
		return fail(err)
	}
	old := w.f
	w.f, w.size, w.broken = nf, 0, false
	return old.Close()
}

func removeRotated(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Flush writes the partial lines the Writer's LineWriters hold, as partial
// entries. Close does it too.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushStreams()
}

func (w *Writer) flushStreams() error {
	var first error
	for _, s := range w.streams {
		if err := s.flush(); err != nil && first == nil {
			first = err
		}
	}
	if err := w.flushBuf(); err != nil && first == nil {
		first = err
	}
	return first
}

// Close flushes the partial lines and closes the file. Closing it releases
// the lock, which tells readers following the log that it has ended: the
// monitor closes its Writer when the container's output ends (or the kernel
// does it for it when the monitor dies).
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.flushStreams()
	w.closed = true
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lockWriter takes the writer's exclusive flock on f. Readers take a shared
// lock for an instant to ask whether a writer is there, so a refusal is
// retried for a while before Open gives up. A file system without flock
// leaves the log unlocked: it works, but followers then stop only when told.
func lockWriter(f *os.File) error {
	fd := int(f.Fd())
	for i := 0; ; i++ {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case err == syscall.EINTR:
			continue
		case err == syscall.EWOULDBLOCK:
			if i == 100 {
				return errors.New("in use by another writer")
			}
			time.Sleep(10 * time.Millisecond)
		case err == syscall.ENOLCK || err == syscall.EOPNOTSUPP || err == syscall.EINVAL:
			return nil
		default:
			return err
		}
	}
}

// Detach flushes what is buffered and hands the live file over to another
// writer (the monitor's C relay, across an exec), with its lock: the log
// stays active for followers. The Writer is closed afterwards, without
// closing the file.
func (w *Writer) Detach() (*os.File, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, errClosed
	}
	err := w.flushStreams()
	w.closed = true
	return w.f, err
}

// Adopt makes a Writer of a live file that another writer detached (the
// lock comes with it), so that the log goes on where it stopped.
func Adopt(f *os.File, path string, opts Options) (*Writer, error) {
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = 1
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return &Writer{path: path, opts: opts, f: f, size: fi.Size()}, nil
}
