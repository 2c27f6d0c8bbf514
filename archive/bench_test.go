package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// benchLayer writes a layer of about 200 MB of content shaped like a
// distribution image: many small files (most of a rootfs by count), some
// megabyte-sized binaries, text that compresses about 3x and binary data that
// does not. Returns the uncompressed size.
func benchLayer(b *testing.B, w io.Writer) int64 {
	rnd := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet " +
		"container image layer overlay whiteout kernel namespace cgroup mount proc sys usr lib bin")
	content := func(n int) []byte {
		buf := make([]byte, 0, n)
		if rnd.IntN(2) == 0 {
			for len(buf) < n {
				buf = append(buf, words[rnd.IntN(len(words))]...)
				buf = append(buf, ' ')
			}
			return buf[:n]
		}
		buf = buf[:n]
		for i := 0; i+8 <= n; i += 8 {
			v := rnd.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		return buf
	}
	tw := tar.NewWriter(w)
	var total int64
	add := func(h *tar.Header, body []byte) {
		h.Mode = 0o644
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		tw.Write(body)
		total += h.Size
	}
	add(&tar.Header{Name: "usr/", Typeflag: tar.TypeDir}, nil)
	add(&tar.Header{Name: "usr/share/", Typeflag: tar.TypeDir}, nil)
	for d := range 400 {
		dir := fmt.Sprintf("usr/share/pkg%03d/", d)
		add(&tar.Header{Name: dir, Typeflag: tar.TypeDir}, nil)
		for f := range 25 {
			// log-uniform from 100 B to 64 KiB
			n := int(100 * math.Pow(655, rnd.Float64()))
			add(&tar.Header{Name: fmt.Sprintf("%sf%02d", dir, f), Typeflag: tar.TypeReg}, content(n))
		}
		add(&tar.Header{Name: dir + "link", Typeflag: tar.TypeSymlink, Linkname: "f00"}, nil)
	}
	add(&tar.Header{Name: "usr/bin/", Typeflag: tar.TypeDir}, nil)
	for f := range 50 {
		add(&tar.Header{Name: fmt.Sprintf("usr/bin/prog%02d", f), Typeflag: tar.TypeReg}, content(2<<20))
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	return total
}

// BenchmarkApply unpacks the same generated layer plain, gzip and zstd, and
// runs GNU tar on the gzip file for comparison (tar-xzf: tar with gzip in a
// second process; tar-xf: the plain tar).
//
//	go test -run XXX -bench Apply -benchtime 5x ./archive/
func BenchmarkApply(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	files := map[string]string{}
	var size int64
	for _, kind := range []string{"plain", "gzip", "zstd"} {
		p := filepath.Join(dir, "layer."+kind)
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		var w io.Writer = bw
		var c io.Closer
		switch kind {
		case "gzip":
			gw := gzip.NewWriter(bw)
			w, c = gw, gw
		case "zstd":
			zw, _ := zstd.NewWriter(bw)
			w, c = zw, zw
		}
		size = benchLayer(b, w)
		if c != nil {
			c.Close()
		}
		bw.Flush()
		f.Close()
		files[kind] = p
	}

	run := func(b *testing.B, extract func(dst string) error) {
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			dst := filepath.Join(dir, fmt.Sprintf("out%d", i))
			if err := extract(dst); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			// Write back and drop what this run left, so that no run pays
			// for the writeback of the one before.
			os.RemoveAll(dst)
			unix.Sync()
			b.StartTimer()
		}
	}
	for _, kind := range []string{"plain", "gzip", "zstd"} {
		b.Run(kind, func(b *testing.B) {
			run(b, func(dst string) error {
				f, err := os.Open(files[kind])
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = Apply(context.Background(), dst, f)
				return err
			})
		})
	}
	for name, args := range map[string][]string{"tar-xzf": {"-xzf", files["gzip"]}, "tar-xf": {"-xf", files["plain"]}} {
		b.Run(name, func(b *testing.B) {
			run(b, func(dst string) error {
				os.Mkdir(dst, 0o755)
				out, err := exec.Command("tar", append(args, "-C", dst)...).CombinedOutput()
				if err != nil {
					return fmt.Errorf("%v: %s", err, out)
				}
				return nil
			})
		})
	}
}
