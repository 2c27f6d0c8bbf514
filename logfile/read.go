package logfile

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"
)

// All is the ReadOptions.Tail that reads the whole log.
const All = -1

// ReadOptions choose what Read returns, as `hutch logs` flags do.
type ReadOptions struct {
	// Tail is how many entries to read from the end of the log, counted
	// across the rotated files: All (-1) reads everything, 0 nothing of
	// what is already there (with Follow: only what comes next).
	Tail int
	// Since and Until keep the entries logged at or after Since and at or
	// before Until; zero times do not filter. The first entry after Until
	// ends the read; a follow also ends (within a second) once the clock
	// passes Until. As in Docker, Tail is applied first and the times
	// filter what it leaves.
	Since, Until time.Time
	// Follow keeps reading what the writer adds, across rotations, until
	// the writer closes the log (see Active) or the context ends.
	Follow bool
}

// Read calls out with the entries of the log at path, oldest first, from the
// rotated files (path.N ... path.1) and then path. Lines that are not valid
// entries are skipped, among them the last line of a file whose writer was
// killed in the middle of it. A log that does not exist reads as empty.
//
// Read returns nil when it has read what was asked: the end of the log,
// Until, or when following, the end of the writer or of ctx. An error from
// out ends it and is returned as is.
func Read(ctx context.Context, path string, opts ReadOptions, out func(Entry) error) error {
	files, err := openSet(path, nil)
	if err != nil {
		return err
	}
	r := &reader{path: path, opts: opts, out: out}
	defer func() { closeFiles(r.files) }()
	r.files = files
	if len(files) == 0 {
		return nil
	}
	// A read that does not follow ends where the log ended when it
	// began: lines written meanwhile would make --tail N print more than N.
	sizes := make([]int64, len(files))
	for i, lf := range files {
		if sizes[i], err = lf.size(); err != nil {
			return err
		}
	}
	idx, off := 0, int64(0)
	if opts.Tail >= 0 {
		if idx, off, err = tailStart(files, sizes, opts.Tail); err != nil {
			return err
		}
	}
	if !opts.Since.IsZero() {
		// Skip whole rotated files whose last entry is older than Since.
		for idx < len(files)-1 {
			t, ok := lastTime(files[idx])
			if !ok || !t.Before(opts.Since) {
				break
			}
			idx, off = idx+1, 0
		}
	}
	for i := idx; i < len(files); i++ {
		lf := files[i]
		if i > idx {
			off = 0
		}
		if lf.live && opts.Follow {
			return r.follow(ctx, lf, off)
		}
		if done, err := r.readFile(lf, off, sizes[i]); done || err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return nil
		}
	}
	return nil
}

type reader struct {
	path  string
	opts  ReadOptions
	out   func(Entry) error
	files []*logFile // open files, closed at the end
	lr    lineReader
	dec   decoder
	e     Entry
}

// readFile reads lf from off to its end, as a finished file: an unfinished
// last line is dropped. It reports true when Until was passed.
func (r *reader) readFile(lf *logFile, off, end int64) (bool, error) {
	r.lr.reset(lf.f, off)
	r.lr.end = end
	return r.drain()
}

// drain reads the whole lines there are; an unfinished one stays in the
// line reader.
func (r *reader) drain() (bool, error) {
	for {
		line, err := r.lr.next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !r.dec.decode(line, &r.e) {
			continue
		}
		if !r.opts.Since.IsZero() && r.e.Time.Before(r.opts.Since) {
			continue
		}
		if !r.opts.Until.IsZero() && r.e.Time.After(r.opts.Until) {
			return true, nil
		}
		if err := r.out(r.e); err != nil {
			return false, err
		}
	}
}

// follow reads the live file lf from off and goes on as it grows, through
// rotations, until its writer is gone or ctx ends.
//
// At the end of the file it asks, in this order:
//
//  1. Is path another file now? Then the writer rotated: it wrote its last
//     byte to lf before the rename, so lf is read to its end and reading
//     goes on with the files made since (normally just the new path; more
//     if the writer rotated again meanwhile, found again by inode).
//  2. Is a writer holding lf? Then wait for it (inotify, or a poll).
//  3. Nobody holds it: ask 1 again (the writer closes the old file after a
//     rotation), and if path is still lf, the writer has closed it (or died),
//     so read it to its end and stop.
func (r *reader) follow(ctx context.Context, lf *logFile, off int64) error {
	w := newWatcher()
	defer w.close()
	w.watch(lf.f)
	r.lr.reset(lf.f, off)
	for {
		if done, err := r.drain(); done || err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if !r.opts.Until.IsZero() && time.Now().After(r.opts.Until) {
			// Nothing logged from now on can be at or before Until.
			return nil
		}
		if !w.needCheck() {
			if !w.wait(ctx) {
				return nil
			}
			continue
		}
		if !r.rotatedAway(lf) {
			if active(lf.f) {
				if !w.wait(ctx) {
					return nil
				}
				continue
			}
			if !r.rotatedAway(lf) {
				_, err := r.drain()
				return err
			}
		}
		// lf is finished: read what is left of it, then the newer files.
		if done, err := r.drain(); done || err != nil {
			return err
		}
		newer, err := r.newer(lf)
		if err != nil {
			return err
		}
		lf = nil
		for _, nf := range newer {
			if nf.live {
				lf = nf
				break
			}
			if done, err := r.readFile(nf, 0, -1); done || err != nil {
				return err
			}
		}
		if lf == nil {
			return nil
		}
		w.watch(lf.f)
		r.lr.reset(lf.f, 0)
	}
}

// rotatedAway reports whether path names another file than lf. A missing
// path is not a rotation: either a rotation is between its two renames
// (no hard links), or the log was removed and the writer is gone.
func (r *reader) rotatedAway(lf *logFile) bool {
	fi, err := os.Stat(r.path)
	return err == nil && !os.SameFile(fi, lf.fi)
}

// newer opens the log again and returns the files that came after lf,
// oldest first. If lf is no longer among them the writer rotated it out
// before it could be read to the end: the files in between are lost to this
// reader, which goes on with the oldest there is.
func (r *reader) newer(lf *logFile) ([]*logFile, error) {
	files, err := openSet(r.path, lf.fi)
	if err != nil {
		return nil, err
	}
	closeFiles(r.files)
	r.files = files
	if len(files) > 0 && os.SameFile(files[0].fi, lf.fi) {
		files[0].f.Close()
		r.files = files[1:]
	}
	return r.files, nil
}

// tailStart finds where the last n entries begin: the file index and the
// offset. It reads backwards from the end of the newest file in blocks,
// counting newlines, so a tail of a big log reads only what it returns.
func tailStart(files []*logFile, sizes []int64, n int) (int, int64, error) {
	need := n + 1 // the newline before the first of n lines, counted from the end
	buf := make([]byte, 32*1024)
	for i := len(files) - 1; i >= 0; i-- {
		off, found, err := scanBack(files[i].f, sizes[i], &need, buf)
		if err != nil {
			return 0, 0, err
		}
		if found {
			return i, off, nil
		}
	}
	return 0, 0, nil
}

// scanBack counts newlines backwards from end; when *need reaches zero it
// returns the offset just after that newline.
func scanBack(f *os.File, end int64, need *int, buf []byte) (int64, bool, error) {
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, false, err
		}
		for j := len(b) - 1; j >= 0; j-- {
			if b[j] != '\n' {
				continue
			}
			if *need--; *need == 0 {
				return start + int64(j) + 1, true, nil
			}
		}
		end = start
	}
	return 0, false, nil
}

// lastTime returns the time of the last whole entry of a rotated file.
func lastTime(lf *logFile) (time.Time, bool) {
	size, err := lf.size()
	if err != nil {
		return time.Time{}, false
	}
	buf := make([]byte, 4096)
	need := 1
	end, found, err := scanBack(lf.f, size, &need, buf)
	if err != nil || !found {
		return time.Time{}, false
	}
	need = 1
	start, _, err := scanBack(lf.f, end-1, &need, buf)
	if err != nil || end-1-start > maxEntry {
		return time.Time{}, false
	}
	line := make([]byte, end-1-start)
	if _, err := lf.f.ReadAt(line, start); err != nil {
		return time.Time{}, false
	}
	var d decoder
	var e Entry
	if !d.decode(line, &e) {
		return time.Time{}, false
	}
	return e.Time, true
}

// maxEntry is the longest line a reader takes as an entry. Hutch's entries
// are at most MaxLine bytes of log escaped (six bytes each at worst) plus the
// other members; anything longer is not an entry and is skipped.
const maxEntry = 1 << 20

// lineReader returns the whole lines of a file from an offset, with pread,
// through one buffer that grows only for long lines.
type lineReader struct {
	f        *os.File
	off      int64 // file offset of buf[w]
	buf      []byte
	r, w     int // unread bytes are buf[r:w]
	seen     int // buf[r:seen] has no newline
	skipping bool
	end      int64 // read no further than this offset; negative: no end
}

func (l *lineReader) reset(f *os.File, off int64) {
	if l.buf == nil {
		l.buf = make([]byte, 64*1024)
	}
	l.f, l.off, l.end = f, off, -1
	l.r, l.w, l.seen, l.skipping = 0, 0, 0, false
}

// next returns the next whole line without its "\n". At the end of the file
// it returns io.EOF and keeps an unfinished line for the next call.
func (l *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(l.buf[l.seen:l.w], '\n'); i >= 0 {
			end := l.seen + i
			line := l.buf[l.r:end]
			l.r, l.seen = end+1, end+1
			if l.skipping {
				l.skipping = false
				continue
			}
			return line, nil
		}
		l.seen = l.w
		if l.r > 0 {
			copy(l.buf, l.buf[l.r:l.w])
			l.w -= l.r
			l.seen = l.w
			l.r = 0
		}
		if l.w == len(l.buf) {
			if len(l.buf) < maxEntry {
				nb := make([]byte, 2*len(l.buf))
				copy(nb, l.buf[:l.w])
				l.buf = nb
			} else {
				l.skipping = true
				l.w, l.seen = 0, 0
			}
		}
		dst := l.buf[l.w:]
		if l.end >= 0 {
			if l.off >= l.end {
				return nil, io.EOF
			}
			dst = dst[:min(int64(len(dst)), l.end-l.off)]
		}
		n, err := l.f.ReadAt(dst, l.off)
		l.w += n
		l.off += int64(n)
		if n == 0 {
			if err == nil || err == io.EOF {
				return nil, io.EOF
			}
			return nil, err
		}
	}
}
