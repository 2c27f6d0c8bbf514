package seccomp

import (
	"os"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
)

// BenchmarkCompileDefaultProfile measures what Load does before the
// seccomp(2) call: building Docker's default profile and generating its BPF
// (exported to /dev/null, as the filter cannot be loaded in the test
// process over and over).
func BenchmarkCompileDefaultProfile(b *testing.B) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	cfg := DefaultProfile()
	for b.Loop() {
		def, err := convertAction(-1, cfg.DefaultAction, cfg.DefaultErrnoRet)
		if err != nil {
			b.Fatal(err)
		}
		filter, err := libseccomp.NewFilter(def)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := compile(cfg, def, filter); err != nil {
			b.Fatal(err)
		}
		if err := filter.ExportBPF(devnull); err != nil {
			b.Fatal(err)
		}
		filter.Release()
	}
}

// BenchmarkCompileCachedHit is the cost of a cache hit: encoding the config
// for the key, hashing, reading and decoding the program.
func BenchmarkCompileCachedHit(b *testing.B) {
	dir := b.TempDir()
	cfg := DefaultProfile()
	if _, err := CompileCached(cfg, dir); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := CompileCached(cfg, dir); err != nil {
			b.Fatal(err)
		}
	}
}
