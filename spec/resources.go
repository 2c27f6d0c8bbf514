package spec

import (
	"runtime"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
)

// minMemory is Docker's smallest --memory and --memory-reservation: 6 MiB
// (6291456 bytes), "not a kernel limit, to account for overhead during
// startup and to supply a reasonably functional container".
const minMemory = 6 << 20

// cfsPeriod is the CFS period --cpus uses: 100 ms, in microseconds.
const cfsPeriod = 100000

// resources checks the limits as Docker's daemon does
// (verifyPlatformContainerResources, with its messages after the flag
// name) and maps them as it does (getMemoryResources, getCPUResources,
// getPidsLimit). The device rules are added by devices().
func resources(o *Options) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}

	// Memory. Docker's swap is memory+swap; 0 means twice the memory,
	// -1 unlimited.
	if o.Memory != 0 && o.Memory < minMemory {
		return nil, errdefs.InvalidArgument("spec: --memory %d: minimum memory limit allowed is 6MB", o.Memory)
	}
	if o.MemorySwap < -1 {
		return nil, errdefs.InvalidArgument("spec: --memory-swap %d: must be -1 (unlimited), 0 (twice --memory) or a size", o.MemorySwap)
	}
	swap := o.MemorySwap
	if o.Memory > 0 && swap == 0 {
		swap = 2 * o.Memory
	}
	if o.Memory > 0 && swap > 0 && swap < o.Memory {
		return nil, errdefs.InvalidArgument("spec: --memory-swap %d: minimum memoryswap limit should be larger than memory limit (%d)", swap, o.Memory)
	}
	if o.Memory == 0 && swap > 0 {
		return nil, errdefs.InvalidArgument("spec: --memory-swap %d: you should always set the memory limit when using memoryswap limit", swap)
	}
	if o.MemoryReservation < 0 || o.MemoryReservation > 0 && o.MemoryReservation < minMemory {
		return nil, errdefs.InvalidArgument("spec: --memory-reservation %d: minimum memory reservation allowed is 6MB", o.MemoryReservation)
	}
	if o.Memory > 0 && o.MemoryReservation > 0 && o.Memory < o.MemoryReservation {
		return nil, errdefs.InvalidArgument("spec: --memory %d: minimum memory limit can not be less than memory reservation limit (%d)", o.Memory, o.MemoryReservation)
	}
	var mem specs.LinuxMemory
	if o.Memory > 0 {
		mem.Limit = ptr(o.Memory)
		// -1 is written out (memory.swap.max "max") rather than left to
		// the cgroup's default, which is the same today; Docker leaves it
		// out.
		mem.Swap = ptr(swap)
	}
	if o.MemoryReservation > 0 {
		mem.Reservation = ptr(o.MemoryReservation)
	}
	if mem != (specs.LinuxMemory{}) {
		r.Memory = &mem
	}

	// CPU.
	if o.NanoCPUs > 0 && o.CPUPeriod > 0 {
		return nil, errdefs.InvalidArgument("spec: conflicting options: --cpus and --cpu-period cannot both be set")
	}
	if o.NanoCPUs > 0 && o.CPUQuota > 0 {
		return nil, errdefs.InvalidArgument("spec: conflicting options: --cpus and --cpu-quota cannot both be set")
	}
	if nc := runtime.NumCPU(); o.NanoCPUs < 0 || o.NanoCPUs > int64(nc)*1e9 {
		return nil, errdefs.InvalidArgument("spec: --cpus %s: range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", nanoString(o.NanoCPUs), nc, nc)
	}
	if o.CPUPeriod != 0 && (o.CPUPeriod < 1000 || o.CPUPeriod > 1000000) {
		return nil, errdefs.InvalidArgument("spec: --cpu-period %d: CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)", o.CPUPeriod)
	}
	if o.CPUQuota > 0 && o.CPUQuota < 1000 {
		return nil, errdefs.InvalidArgument("spec: --cpu-quota %d: CPU cfs quota can not be less than 1ms (i.e. 1000)", o.CPUQuota)
	}
	var cpu specs.LinuxCPU
	if o.CPUShares != 0 {
		cpu.Shares = ptr(o.CPUShares)
	}
	cpu.Cpus, cpu.Mems = o.CpusetCpus, o.CpusetMems
	if o.NanoCPUs > 0 {
		cpu.Period = ptr(uint64(cfsPeriod))
		cpu.Quota = ptr(o.NanoCPUs * cfsPeriod / 1e9)
	}
	if o.CPUPeriod != 0 {
		cpu.Period = ptr(uint64(o.CPUPeriod))
	}
	if o.CPUQuota != 0 {
		cpu.Quota = ptr(o.CPUQuota)
	}
	if cpu != (specs.LinuxCPU{}) {
		r.CPU = &cpu
	}

	// Block I/O.
	if o.BlkioWeight > 0 && (o.BlkioWeight < 10 || o.BlkioWeight > 1000) {
		return nil, errdefs.InvalidArgument("spec: --blkio-weight %d: range of blkio weight is from 10 to 1000", o.BlkioWeight)
	}
	if o.BlkioWeight > 0 {
		r.BlockIO = &specs.LinuxBlockIO{Weight: ptr(o.BlkioWeight)}
	}

	// PIDs: the API's 0 and negative values mean unlimited (-1 for the
	// runtime); here 0 is also "not given", which on a new cgroup is the
	// same.
	switch {
	case o.PidsLimit > 0:
		r.Pids = &specs.LinuxPids{Limit: ptr(o.PidsLimit)}
	case o.PidsLimit < 0:
		r.Pids = &specs.LinuxPids{Limit: ptr(int64(-1))}
	}
	return r, nil
}

// nanoString prints NanoCPUs as --cpus was given (1.5, 0.25).
func nanoString(n int64) string { return strconv.FormatFloat(float64(n)/1e9, 'f', -1, 64) }

func ptr[T any](v T) *T { return &v }
