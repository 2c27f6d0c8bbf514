package logfile

import (
	"bytes"
	"time"
)

// LineWriter cuts a byte stream (a container's stdout or stderr) into log
// entries the way Docker's log copier does:
//
//   - each "\n" ends an entry, stamped with the time the newline was seen;
//   - bytes without a newline wait in a buffer; when MaxLine of them have
//     gathered they are written as a partial entry, and the rest of that line
//     follows in more entries that keep the time of the first piece;
//   - Flush (and the Writer's Close, at the end of the stream) writes what is
//     waiting as a partial entry.
//
// The buffer is at most MaxLine bytes and is only allocated once a write
// ends without a newline. Its methods may be called from any goroutine.
type LineWriter struct {
	w      *Writer
	stream string
	buf    []byte    // bytes of an unfinished line, fewer than MaxLine
	since  time.Time // time of the first piece of a line already partly written
	now    func() time.Time
}

// Stream returns the LineWriter for stream ("stdout" or "stderr"). The
// monitor copies the container's output into it.
func (w *Writer) Stream(stream string) *LineWriter {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.streams {
		if s.stream == stream {
			return s
		}
	}
	s := &LineWriter{w: w, stream: stream, now: time.Now}
	w.streams = append(w.streams, s)
	return s
}

// Write logs p: its whole lines reach the file before it returns, in one
// write(2) per 32 KiB of entries. It returns len(p) unless writing fails.
func (s *LineWriter) Write(p []byte) (int, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if s.w.closed {
		return 0, errClosed
	}
	n, err := s.write(p)
	if ferr := s.w.flushBuf(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

func (s *LineWriter) write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 || len(s.buf)+i >= MaxLine {
			// No newline within the next MaxLine bytes of the line: keep
			// what fits, and write a full buffer as a partial entry.
			room := MaxLine - len(s.buf)
			if len(p) < room {
				if s.buf == nil {
					s.buf = make([]byte, 0, MaxLine)
				}
				s.buf = append(s.buf, p...)
				return n, nil
			}
			var err error
			if len(s.buf) == 0 {
				err = s.emit(p[:room], false)
			} else {
				s.buf = append(s.buf, p[:room]...)
				err = s.emit(s.buf, false)
				s.buf = s.buf[:0]
			}
			p = p[room:]
			if err != nil {
				return n - len(p), err
			}
			continue
		}
		var err error
		if len(s.buf) == 0 {
			err = s.emit(p[:i+1], true)
		} else {
			s.buf = append(s.buf, p[:i+1]...)
			err = s.emit(s.buf, true)
			s.buf = s.buf[:0]
		}
		p = p[i+1:]
		if err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

// emit writes one entry; whole tells whether it ends its line.
func (s *LineWriter) emit(log []byte, whole bool) error {
	t := s.since
	if t.IsZero() {
		t = s.now()
	}
	if whole {
		s.since = time.Time{}
	} else {
		s.since = t
	}
	return s.w.queue(s.stream, log, t)
}

// Flush writes the waiting bytes of an unfinished line as a partial entry.
func (s *LineWriter) Flush() error {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if err := s.flush(); err != nil {
		return err
	}
	return s.w.flushBuf()
}

func (s *LineWriter) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.emit(s.buf, false)
	s.buf = s.buf[:0]
	return err
}
