package engine

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"hutch.dev/hutch/cgroups"
	"hutch.dev/hutch/errdefs"
)

// StatsSample is one reading of a container's counters. Stats is nil
// when the container does not run.
type StatsSample struct {
	ID    string
	Name  string
	Read  time.Time
	Stats *cgroups.Stats
	// NetRx and NetTx are the bytes through the interfaces of the
	// container's own network namespace, loopback left out (0 with
	// --network host: those are the host's).
	NetRx, NetTx uint64
}

// Stats reads the counters of the container ref from its cgroup.
func (e *Engine) Stats(ref string) (*StatsSample, error) {
	c, err := e.Inspect(ref)
	if err != nil {
		return nil, err
	}
	s := &StatsSample{ID: c.ID, Name: c.Name, Read: time.Now()}
	if !c.State.Running {
		return s, nil
	}
	rc, err := e.loadRuntime(c.ID)
	if errdefs.IsNotFound(err) {
		return s, nil // it ended meanwhile
	}
	if err != nil {
		return nil, wrap(c, "stats", err)
	}
	st, err := rc.Stats()
	if errdefs.IsFailedPrecondition(err) {
		return s, nil
	}
	if err != nil {
		return nil, wrap(c, "stats", err)
	}
	s.Stats, s.Read = st, time.Now()
	if c.HostConfig.NetworkMode != "host" && c.State.Pid > 0 {
		s.NetRx, s.NetTx = netDev(c.State.Pid)
	}
	return s, nil
}

// netDev sums the byte counters of /proc/PID/net/dev (the network
// namespace of pid) over every interface but lo.
func netDev(pid int) (rx, tx uint64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		// Receive: bytes packets errs drop fifo frame compressed
		// multicast; then transmit: bytes ...
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx += r
		tx += t
	}
	return rx, tx
}

// StatsEntry is one row of `stats`: the numbers Docker's client computes
// from two samples.
type StatsEntry struct {
	ID         string
	Name       string
	Running    bool
	CPUPercent float64 // of one CPU: 200% is two CPUs busy
	MemUsage   uint64  // without the inactive page cache, as Docker
	MemLimit   uint64  // the cgroup's limit, or the host's memory
	MemPercent float64
	NetRx      uint64
	NetTx      uint64
	BlockRead  uint64
	BlockWrite uint64
	Pids       uint64
}

// Entry computes the row of cur, with prev (an earlier sample of the same
// container, or nil) for the CPU share over the time between them.
// hostMem is the host's memory, the limit shown for an unlimited
// container.
func (cur *StatsSample) Entry(prev *StatsSample, hostMem uint64) StatsEntry {
	en := StatsEntry{ID: cur.ID, Name: cur.Name, NetRx: cur.NetRx, NetTx: cur.NetTx}
	s := cur.Stats
	if s == nil {
		return en
	}
	en.Running = true
	if prev != nil && prev.Stats != nil && cur.Read.After(prev.Read) && s.CPU.Usage.Total >= prev.Stats.CPU.Usage.Total {
		d := float64(s.CPU.Usage.Total - prev.Stats.CPU.Usage.Total)
		en.CPUPercent = d / float64(cur.Read.Sub(prev.Read).Nanoseconds()) * 100
	}
	en.MemUsage = s.Memory.Usage.Usage
	// Docker leaves out the page cache the kernel can drop at once:
	// total_inactive_file on cgroup v1, inactive_file on v2.
	inactive, ok := s.Memory.Raw["total_inactive_file"]
	if !ok {
		inactive = s.Memory.Raw["inactive_file"]
	}
	if inactive < en.MemUsage {
		en.MemUsage -= inactive
	}
	en.MemLimit = s.Memory.Usage.Limit
	if hostMem > 0 && (en.MemLimit == 0 || en.MemLimit > hostMem) {
		en.MemLimit = hostMem
	}
	if en.MemLimit > 0 {
		en.MemPercent = float64(en.MemUsage) / float64(en.MemLimit) * 100
	}
	for _, b := range s.Blkio.IoServiceBytesRecursive {
		switch strings.ToLower(b.Op) {
		case "read":
			en.BlockRead += b.Value
		case "write":
			en.BlockWrite += b.Value
		}
	}
	en.Pids = s.Pids.Current
	return en
}

// HostMemory is the host's total memory in bytes (MemTotal of
// /proc/meminfo), 0 when unknown.
func HostMemory() uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
