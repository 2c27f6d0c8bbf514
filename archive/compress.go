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
		return zr, func() { zr.Close() }, nil
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
