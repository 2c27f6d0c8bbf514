package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/runtime/specconv"
)

// setRlimits applies process.rlimits in two steps. Early (final false),
// while the config can still fail create, it sets each hard limit, which
// checks that we may: a hard limit above the current one needs
// CAP_SYS_RESOURCE, and without it the kernel says EPERM, reported naming
// the limit instead of a crash. The soft limit stays at most what it was,
// so the init's own Go runtime never runs under a small RLIMIT_AS or
// RLIMIT_NOFILE (it could fail to grow its heap). The final step, right
// before execve, sets the soft limits, which is always allowed.
func setRlimits(p *specs.Process, final bool) error {
	for _, r := range p.Rlimits {
		res := specconv.Rlimits[r.Type]
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if !final {
			var cur unix.Rlimit
			if err := unix.Prlimit(0, res, nil, &cur); err == nil {
				lim.Cur = min(cur.Cur, r.Hard)
			}
		}
		if err := unix.Prlimit(0, res, &lim, nil); err != nil {
			var cur unix.Rlimit
			unix.Prlimit(0, res, nil, &cur)
			return fmt.Errorf("process.rlimits %s: soft %d hard %d: %w (the runtime's hard limit is %d)", r.Type, r.Soft, r.Hard, err, cur.Max)
		}
	}
	return nil
}

func setOOMScoreAdj(p *specs.Process) error {
	if p.OOMScoreAdj == nil {
		return nil
	}
	v := strconv.Itoa(*p.OOMScoreAdj)
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte(v), 0); err != nil {
		return fmt.Errorf("process.oomScoreAdj %s: %w", v, unwrapPathErr(err))
	}
	return nil
}

var personalityDomains = map[specs.LinuxPersonalityDomain]uintptr{
	specs.PerLinux: 0x0000, specs.PerLinux32: 0x0008,
}

func setPersonality(l *specs.Linux) error {
	if l == nil || l.Personality == nil {
		return nil
	}
	dom, ok := personalityDomains[l.Personality.Domain]
	if !ok {
		return fmt.Errorf("linux.personality.domain %q: unknown", l.Personality.Domain)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, dom, 0, 0); e != 0 {
		return fmt.Errorf("linux.personality: %w", e)
	}
	return nil
}

var ioprioClasses = map[specs.IOPriorityClass]uintptr{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

func setIOPriority(p *specs.Process) error {
	if p.IOPriority == nil {
		return nil
	}
	class, ok := ioprioClasses[p.IOPriority.Class]
	if !ok {
		return fmt.Errorf("process.ioPriority.class %q: unknown", p.IOPriority.Class)
	}
	const ioprioWhoProcess = 1
	prio := class<<13 | uintptr(p.IOPriority.Priority)
	if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, prio); e != 0 {
		return fmt.Errorf("process.ioPriority: %w", e)
	}
	return nil
}

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10, specs.SchedFlagUtilClampMin: 0x20,
	specs.SchedFlagUtilClampMax: 0x40,
}

func setScheduler(p *specs.Process) error {
	s := p.Scheduler
	if s == nil {
		return nil
	}
	pol, ok := schedPolicies[s.Policy]
	if !ok {
		return fmt.Errorf("process.scheduler.policy %q: unknown", s.Policy)
	}
	attr := unix.SchedAttr{
		Size: unix.SizeofSchedAttr, Policy: pol, Nice: s.Nice, Priority: uint32(s.Priority),
		Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period,
	}
	for _, f := range s.Flags {
		v, ok := schedFlags[f]
		if !ok {
			return fmt.Errorf("process.scheduler.flags %q: unknown", f)
		}
		attr.Flags |= v
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SCHED_SETATTR, 0, uintptr(unsafe.Pointer(&attr)), 0); e != 0 {
		return fmt.Errorf("process.scheduler: sched_setattr: %w", e)
	}
	return nil
}

// lookPath resolves the executable the way execvp would with the
// container's PATH, before the container is reported ready: a missing
// binary fails create, not start.
func lookPath(p *specs.Process) (string, error) {
	name := p.Args[0]
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("exec %q: %w", name, err)
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range p.Env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[5:]
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		cand := filepath.Join(dir, name)
		if checkExecutable(cand) == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("exec %q: executable file not found in $PATH", name)
}

func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return unwrapPathErr(err)
	}
	if st.IsDir() {
		return fmt.Errorf("is a directory")
	}
	if st.Mode()&0o111 == 0 {
		return fmt.Errorf("permission denied")
	}
	return nil
}

// closeExecFds marks every fd from first up close-on-exec.
//
// CVE-2024-21626: a file descriptor of the runtime (a directory under
// /sys/fs/cgroup, say) inherited by the container lets it reach the host's
// filesystem through /proc/self/fd, or even start with its cwd outside the
// root. Nothing of ours may cross execve.
func closeExecFds(first int) error {
	if err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	return nil
}

// execProcess replaces the init with the container's process.
func execProcess(path string, p *specs.Process) error {
	err := unix.Exec(path, p.Args, p.Env)
	return fmt.Errorf("exec %s: %w", path, err)
}
