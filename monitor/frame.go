package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The attach stream between a monitor and a client (`hutch run` in the
// foreground, `hutch attach`) is a sequence of frames, both ways:
//
//	kind (1 byte) | length (4 bytes, big endian) | payload
//
// One framed stream carries stdout and stderr apart (as Docker's
// multiplexed attach does) and the control messages (resize, signals, the
// exit code) without a second socket.
const (
	FrameStdin    byte = 'i' // client → monitor: bytes for the container's stdin
	FrameStdinEOF byte = 'c' // client → monitor: close the container's stdin
	FrameResize   byte = 'r' // client → monitor: rows, cols (2 × uint16)
	FrameSignal   byte = 's' // client → monitor: a signal number (uint32) for the init
	FrameStdout   byte = 'o' // monitor → client
	FrameStderr   byte = 'e' // monitor → client
	FrameExit     byte = 'x' // monitor → client: exit code (int32), the last frame
	FrameError    byte = 'E' // monitor → client: the container could not start (message)
)

// maxFrame bounds a payload so a broken peer cannot make us allocate
// without limit.
const maxFrame = 1 << 20

// FrameWriter writes frames; it is safe for concurrent use.
type FrameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewFrameWriter writes frames to w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Write sends one frame.
func (f *FrameWriter) Write(kind byte, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(payload), maxFrame)
	}
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := f.w.Write(payload)
	return err
}

// ReadFrame reads one frame into buf (grown as needed) and returns its kind
// and payload, which is valid until the next call with the same buf.
func ReadFrame(r io.Reader, buf *[]byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, errors.New("attach stream: frame too large")
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	p := (*buf)[:n]
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return hdr[0], p, nil
}

// Uint32s encodes values for resize and signal frames.
func Uint32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// ParseUint32s decodes n values; ok is false when the payload is short.
func ParseUint32s(p []byte, n int) ([]uint32, bool) {
	if len(p) < 4*n {
		return nil, false
	}
	vs := make([]uint32, n)
	for i := range vs {
		vs[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	return vs, true
}
