package fs1

import (
	"fmt"
	"log/slog"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
	"hutch.dev/hutch/cgroups/internal/stats"
)

func setBlkio(dir string, r *specs.LinuxResources, _ *slog.Logger) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	// CFQ offered blkio.weight; since Linux 5.0 only BFQ is left and its
	// files carry a "bfq." prefix.
	weight, weightDev := "blkio.weight", "blkio.weight_device"
	if !cgfs.Exists(dir, weight) && cgfs.Exists(dir, "blkio.bfq.weight") {
		weight, weightDev = "blkio.bfq.weight", "blkio.bfq.weight_device"
	}
	if b.Weight != nil && *b.Weight != 0 {
		if err := cgfs.Write(dir, weight, fmt.Sprint(*b.Weight)); err != nil {
			return err
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if err := cgfs.Write(dir, "blkio.leaf_weight", fmt.Sprint(*b.LeafWeight)); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			if err := cgfs.Write(dir, weightDev, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
				return err
			}
		}
		if d.LeafWeight != nil {
			if err := cgfs.Write(dir, "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight)); err != nil {
				return err
			}
		}
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		// One device per write; a rate of 0 removes the limit.
		for _, d := range t.devs {
			if err := cgfs.Write(dir, t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

// blkioStats reads the first of the CFQ, BFQ and throttle counters that
// has data: CFQ and BFQ count only the devices they schedule, while the
// throttle layer sees every device.
func blkioStats(dir string, s *stats.Stats) error {
	for _, prefix := range []string{"blkio.", "blkio.bfq.", "blkio.throttle."} {
		bytes, err := readBlkio(dir, prefix+"io_service_bytes_recursive")
		if err != nil {
			return err
		}
		ios, err := readBlkio(dir, prefix+"io_serviced_recursive")
		if err != nil {
			return err
		}
		if len(bytes) > 0 || len(ios) > 0 || prefix == "blkio.throttle." {
			s.Blkio.IoServiceBytesRecursive = bytes
			s.Blkio.IoServicedRecursive = ios
			return nil
		}
	}
	return nil
}

// readBlkio parses "MAJ:MIN Op value" lines; the closing "Total N" line
// has no device and is dropped. A missing file reads as no entries.
func readBlkio(dir, file string) ([]stats.BlkioEntry, error) {
	if !cgfs.Exists(dir, file) {
		return nil, nil
	}
	text, err := cgfs.Read(dir, file)
	if err != nil {
		return nil, err
	}
	var out []stats.BlkioEntry
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var e stats.BlkioEntry
		if _, err := fmt.Sscanf(f[0], "%d:%d", &e.Major, &e.Minor); err != nil {
			return nil, fmt.Errorf("cgroup %s: parse %s: %q: %w", dir, file, line, err)
		}
		v, err := cgfs.ParseUint(f[2])
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: parse %s: %q: %w", dir, file, line, err)
		}
		e.Op, e.Value = f[1], v
		out = append(out, e)
	}
	return out, nil
}
