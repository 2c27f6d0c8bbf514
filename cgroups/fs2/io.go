package fs2

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
)

// BlkioToIOWeight maps the v1 blkio weight (10..1000) onto io.weight
// (1..10000) linearly, as runc and crun do.
func BlkioToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (uint64(w)-10)*9999/990
}

func setIO(dir string, r *specs.LinuxResources, log *slog.Logger) error {
	b := r.BlockIO
	// BFQ's io.bfq.weight keeps the v1 scale (1..1000) and is what takes
	// effect on BFQ devices; io.weight needs the iocost controller.
	weightFile, conv := "io.weight", BlkioToIOWeight
	if cgfs.Exists(dir, "io.bfq.weight") {
		weightFile, conv = "io.bfq.weight", func(w uint16) uint64 { return uint64(w) }
	}
	if b.Weight != nil && *b.Weight != 0 {
		if err := cgfs.Write(dir, weightFile, strconv.FormatUint(conv(*b.Weight), 10)); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			if err := cgfs.Write(dir, weightFile, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, conv(*d.Weight))); err != nil {
				return err
			}
		}
	}
	if b.LeafWeight != nil {
		log.Debug("blockIO.leafWeight ignored on cgroup v2 (CFQ only)", "path", dir)
	}
	return setIOMax(dir, b)
}

// setIOMax writes io.max, one line per device with the keys the spec sets
// for it; a rate of 0 lifts that limit ("max"), as writing 0 does on v1.
func setIOMax(dir string, b *specs.LinuxBlockIO) error {
	type dev struct{ major, minor int64 }
	var order []dev
	lines := map[dev][]string{}
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice}, {"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice}, {"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			k := dev{d.Major, d.Minor}
			if _, ok := lines[k]; !ok {
				order = append(order, k)
			}
			v := "max"
			if d.Rate != 0 {
				v = strconv.FormatUint(d.Rate, 10)
			}
			lines[k] = append(lines[k], t.key+"="+v)
		}
	}
	for _, k := range order {
		line := fmt.Sprintf("%d:%d %s", k.major, k.minor, strings.Join(lines[k], " "))
		if err := cgfs.Write(dir, "io.max", line); err != nil {
			return err
		}
	}
	return nil
}

// ioStatOps maps the io.stat keys onto the v1 operation names.
var ioStatOps = map[string]struct {
	op    string
	bytes bool
}{
	"rbytes": {"Read", true}, "wbytes": {"Write", true}, "dbytes": {"Discard", true},
	"rios": {"Read", false}, "wios": {"Write", false}, "dios": {"Discard", false},
}

// ioStats parses io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...".
func ioStats(dir string, s *stats.Stats) error {
	text, err := cgfs.Read(dir, "io.stat")
	if err != nil {
		return err
	}
	s.Blkio = stats.BlkioStats{}
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var major, minor uint64
		if _, err := fmt.Sscanf(f[0], "%d:%d", &major, &minor); err != nil {
			return fmt.Errorf("cgroup %s: parse io.stat: %q: %w", dir, line, err)
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			op, ok := ioStatOps[k]
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("cgroup %s: parse io.stat: %q: %w", dir, kv, err)
			}
			e := stats.BlkioEntry{Major: major, Minor: minor, Op: op.op, Value: n}
			if op.bytes {
				s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive, e)
			} else {
				s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive, e)
			}
		}
	}
	return nil
}
