package archive

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"hutch.dev/hutch/errdefs"
)

var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicBzip2 = []byte{'B', 'Z', 'h'}
)

// decompress looks at the first bytes of r and returns the tar stream inside
// it. The OCI image-spec names gzip and zstd layers besides plain tar
// (media types ...tar+gzip, ...tar+zstd); the media type is not trusted,
// the bytes are, as Docker and containerd do.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, errdefs.InvalidArgument("gzip: %v", err)
		}
		p := newPrefetch(zr)
		return p, func() { p.close(); zr.Close() }, nil
	case bytes.HasPrefix(head, magicZstd):
		zr, err := zstd.NewReader(br, zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, nil, errdefs.InvalidArgument("zstd: %v", err)
		}
		return zr, zr.Close, nil
	case bytes.HasPrefix(head, magicXz), bytes.HasPrefix(head, magicBzip2):
		return nil, nil, errdefs.NotImplemented("xz and bzip2 layers are not supported (OCI layers are tar, gzip or zstd)")
	}
	return br, func() {}, nil
}

// prefetch reads r in a goroutine of its own, a few chunks ahead, so that
// gzip decompression (one core, about as costly as writing the files) runs
// beside the file system work instead of before it.
type prefetch struct {
	full  chan []byte
	empty chan []byte
	stop  chan struct{}
	done  chan struct{}
	cur   []byte
	last  []byte
	err   error // written before full is closed
}

const (
	prefetchChunks = 4
	prefetchSize   = 256 << 10
)

func newPrefetch(r io.Reader) *prefetch {
	p := &prefetch{
		full:  make(chan []byte, prefetchChunks),
		empty: make(chan []byte, prefetchChunks),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for range prefetchChunks {
		p.empty <- make([]byte, prefetchSize)
	}
	go func() {
		defer close(p.done)
		defer close(p.full)
		for {
			var b []byte
			select {
			case b = <-p.empty:
			case <-p.stop:
				return
			}
			n, err := io.ReadFull(r, b)
			if n > 0 {
				select {
				case p.full <- b[:n]:
				case <-p.stop:
					return
				}
			}
			if err != nil {
				if err == io.ErrUnexpectedEOF {
					err = io.EOF
				}
				p.err = err
				return
			}
		}
	}()
	return p
}

func (p *prefetch) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.last != nil {
			p.empty <- p.last[:cap(p.last)]
			p.last = nil
		}
		c, ok := <-p.full
		if !ok {
			return 0, p.err
		}
		p.cur, p.last = c, c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// close stops the goroutine and waits for it, so that the reader under it
// is no longer used when Apply returns.
func (p *prefetch) close() {
	close(p.stop)
	<-p.done
}
