// Package cgfs reads and writes cgroup interface files and walks cgroup
// trees. It holds no policy: fs1 and fs2 decide what to write where.
package cgfs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Write writes value to dir/file in one write(2): the kernel parses each
// write as one command. There is no O_CREAT, since a missing file means
// the controller or feature is absent, which must not be papered over by
// creating a regular file. O_TRUNC is a no-op on cgroupfs (as with the
// shell's "echo v > file") and keeps fixture files holding the last value.
func Write(dir, file, value string) error {
	p := filepath.Join(dir, file)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = f.WriteString(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: write %s %q: %w", dir, file, value, unwrapPath(err))
	}
	return nil
}

// unwrapPath drops the *os.PathError layer: the message already names the
// cgroup and the file, and the errno stays reachable with errors.Is.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Read returns the contents of dir/file without the trailing newline.
func Read(dir, file string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return "", fmt.Errorf("cgroup %s: read %s: %w", dir, file, unwrapPath(err))
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// Exists reports whether dir/file exists; controllers show their presence
// (and kernel features theirs) by the files they create in each cgroup.
func Exists(dir, file string) bool {
	_, err := os.Stat(filepath.Join(dir, file))
	return err == nil
}

// ReadUint reads a file holding one number. "max" (v2) reads as
// math.MaxUint64, the same "no limit" that v1 shows as a huge number.
func ReadUint(dir, file string) (uint64, error) {
	s, err := Read(dir, file)
	if err != nil {
		return 0, err
	}
	v, err := ParseUint(s)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: parse %s: %w", dir, file, err)
	}
	return v, nil
}

// ParseUint parses a counter. The kernel prints -1 for "unlimited" in some
// v1 files (e.g. cpu.cfs_quota_us) and "max" in v2: both read as MaxUint64.
func ParseUint(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "max" || s == "-1" {
		return math.MaxUint64, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// ReadKV reads a flat keyed file ("key value" per line, as memory.stat,
// cpu.stat, memory.events) into a map. Lines that do not parse are skipped:
// newer kernels add keys, and one odd line must not hide the others.
func ReadKV(dir, file string) (map[string]uint64, error) {
	s, err := Read(dir, file)
	if err != nil {
		return nil, err
	}
	return ParseKV(s), nil
}

// ParseKV parses "key value" lines.
func ParseKV(s string) map[string]uint64 {
	m := make(map[string]uint64)
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		n, err := ParseUint(v)
		if err != nil {
			continue
		}
		m[k] = n
	}
	return m
}
