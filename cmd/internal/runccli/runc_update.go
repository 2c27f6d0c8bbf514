package runccli

import (
	"encoding/json"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime"
)

type updateFlags struct {
	resources                                        string
	memory, memorySwap, memoryReservation, kernelMem string
	cpuShares, cpuQuota, cpuPeriod, rtPeriod, rtRun  string
	cpusetCpus, cpusetMems                           string
	pidsLimit, blkioWeight                           string
}

func (g *runcGlobals) updateCmd() *cobra.Command {
	var f updateFlags
	cmd := &cobra.Command{
		Use:   "update [flags] CONTAINER_ID",
		Short: "Change the resource limits of a running container",
		Args:  cli.ExactArgs(1, "a container id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				return err
			}
			r, err := f.resourcesFor(cmd)
			if err != nil {
				return err
			}
			return c.Update(r)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.resources, "resources", "r", "", "JSON file with linux.resources (- for stdin)")
	fl.StringVar(&f.memory, "memory", "", "memory limit in bytes (suffixes k, m, g)")
	fl.StringVar(&f.memorySwap, "memory-swap", "", "memory + swap limit (-1 for unlimited)")
	fl.StringVar(&f.memoryReservation, "memory-reservation", "", "memory soft limit")
	fl.StringVar(&f.kernelMem, "kernel-memory", "", "ignored: kernel memory limits are gone from the kernel")
	fl.StringVar(&f.cpuShares, "cpu-shares", "", "CPU shares (relative weight)")
	fl.StringVar(&f.cpuQuota, "cpu-quota", "", "CPU CFS quota in microseconds")
	fl.StringVar(&f.cpuPeriod, "cpu-period", "", "CPU CFS period in microseconds")
	fl.StringVar(&f.rtPeriod, "cpu-rt-period", "", "CPU realtime period in microseconds")
	fl.StringVar(&f.rtRun, "cpu-rt-runtime", "", "CPU realtime runtime in microseconds")
	fl.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs allowed (0-3, 0,1)")
	fl.StringVar(&f.cpusetMems, "cpuset-mems", "", "memory nodes allowed")
	fl.StringVar(&f.pidsLimit, "pids-limit", "", "maximum number of processes")
	fl.StringVar(&f.blkioWeight, "blkio-weight", "", "block I/O weight (10-1000)")
	return cmd
}

func (f *updateFlags) resourcesFor(cmd *cobra.Command) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if f.resources != "" {
		var in io.Reader = os.Stdin
		if f.resources != "-" {
			file, err := os.Open(f.resources)
			if err != nil {
				return nil, err
			}
			defer file.Close()
			in = file
		}
		if err := json.NewDecoder(in).Decode(r); err != nil {
			return nil, errdefs.InvalidArgument("--resources %s: not valid JSON: %v", f.resources, err)
		}
	}
	var err error
	num := func(flag, v string) *int64 {
		if v == "" || err != nil {
			return nil
		}
		var n int64
		n, err = parseSize(v)
		if err != nil {
			err = errdefs.InvalidArgument("--%s %q: %v", flag, v, err)
			return nil
		}
		return &n
	}
	unum := func(flag, v string) *uint64 {
		p := num(flag, v)
		if p == nil {
			return nil
		}
		if *p < 0 {
			err = errdefs.InvalidArgument("--%s %q: must not be negative", flag, v)
			return nil
		}
		u := uint64(*p)
		return &u
	}
	if m := num("memory", f.memory); m != nil || f.memorySwap != "" || f.memoryReservation != "" {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		if m != nil {
			r.Memory.Limit = m
		}
		if s := num("memory-swap", f.memorySwap); s != nil {
			r.Memory.Swap = s
		}
		if s := num("memory-reservation", f.memoryReservation); s != nil {
			r.Memory.Reservation = s
		}
	}
	if f.cpuShares != "" || f.cpuQuota != "" || f.cpuPeriod != "" || f.rtPeriod != "" || f.rtRun != "" || f.cpusetCpus != "" || f.cpusetMems != "" {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		if v := unum("cpu-shares", f.cpuShares); v != nil {
			r.CPU.Shares = v
		}
		if v := num("cpu-quota", f.cpuQuota); v != nil {
			r.CPU.Quota = v
		}
		if v := unum("cpu-period", f.cpuPeriod); v != nil {
			r.CPU.Period = v
		}
		if v := unum("cpu-rt-period", f.rtPeriod); v != nil {
			r.CPU.RealtimePeriod = v
		}
		if v := num("cpu-rt-runtime", f.rtRun); v != nil {
			r.CPU.RealtimeRuntime = v
		}
		if f.cpusetCpus != "" {
			r.CPU.Cpus = f.cpusetCpus
		}
		if f.cpusetMems != "" {
			r.CPU.Mems = f.cpusetMems
		}
	}
	if v := num("pids-limit", f.pidsLimit); v != nil {
		r.Pids = &specs.LinuxPids{Limit: v}
	}
	if v := unum("blkio-weight", f.blkioWeight); v != nil {
		w := uint16(*v)
		if *v > 1000 {
			return nil, errdefs.InvalidArgument("--blkio-weight %d: must be 10 to 1000", *v)
		}
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return r, err
}

// parseSize reads 1024, 64k, 64m, 1g (binary units, as runc and Docker).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, errdefs.InvalidArgument("not a number")
	}
	return n * mult, nil
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
