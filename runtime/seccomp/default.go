package seccomp

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultProfile returns Docker's default seccomp profile (moby's
// profiles/seccomp/default.json) resolved for this machine's architecture
// and kernel and for Docker's default capability set (DefaultCaps): every
// syscall not listed fails with EPERM; namespaces, mounts, keyrings, BPF,
// module loading, clock setting, reboot, ptrace of other processes and the
// like are refused, and clone3 fails with ENOSYS so that libcs fall back to
// clone, whose namespace flags the filter can see.
//
// Each call returns a new value the caller may change.
func DefaultProfile() *specs.LinuxSeccomp {
	return DefaultProfileFor(DefaultCaps)
}

// DefaultCaps is Docker's default capability set, the one DefaultProfile
// resolves the capability-conditional rules for.
var DefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DefaultProfileFor is DefaultProfile for a container whose bounding set is
// caps: as Docker does, a capability granted to the container also opens the
// syscalls that need it (CAP_SYS_ADMIN: mount, unshare, setns, ...;
// CAP_SYS_PTRACE: ptrace, process_vm_readv, ...), since the filter would
// otherwise take back what the capability gives.
func DefaultProfileFor(caps []string) *specs.LinuxSeccomp {
	errno := uint(unix.EPERM)
	p := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &errno,
		Architectures:   slices.Clone(subArches[runtime.GOARCH]),
	}
	for i := range defaultRules {
		r := &defaultRules[i]
		if !r.applies(runtime.GOARCH, caps) {
			continue
		}
		sc := specs.LinuxSyscall{
			Names:  slices.Clone(r.names),
			Action: r.action,
			Args:   slices.Clone(r.args),
		}
		if r.errnoRet != 0 {
			e := r.errnoRet
			sc.ErrnoRet = &e
		}
		p.Syscalls = append(p.Syscalls, sc)
	}
	return p
}

// subArches are the architectures a filter on each Go architecture must also
// know, because the kernel runs their binaries too (32-bit and x32 programs
// on amd64, arm on arm64, ...). A syscall made through an architecture the
// filter does not list is killed outright, whatever the rules say.
var subArches = map[string][]specs.Arch{
	"amd64":    {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"arm64":    {specs.ArchAARCH64, specs.ArchARM},
	"mips64":   {specs.ArchMIPS64, specs.ArchMIPS, specs.ArchMIPS64N32},
	"mips64le": {specs.ArchMIPSEL64, specs.ArchMIPSEL, specs.ArchMIPSEL64N32},
	"s390x":    {specs.ArchS390X, specs.ArchS390},
	"riscv64":  {specs.ArchRISCV64},
	"loong64":  {specs.ArchLOONGARCH64},
}

// profileRule is one rule of the default profile with the conditions under
// which it applies; arches are Go architecture names (runtime.GOARCH).
type profileRule struct {
	names    []string
	action   specs.LinuxSeccompAction
	errnoRet uint // 0: none
	args     []specs.LinuxSeccompArg

	arches    []string // only on one of these
	notArches []string // not on any of these
	caps      []string // only with all of these
	notCaps   []string // not with any of these
	minKernel [2]int   // only on this kernel version (major, minor) or later
}

func (r *profileRule) applies(arch string, caps []string) bool {
	if len(r.arches) > 0 && !slices.Contains(r.arches, arch) {
		return false
	}
	if slices.Contains(r.notArches, arch) {
		return false
	}
	for _, c := range r.caps {
		if !slices.Contains(caps, c) {
			return false
		}
	}
	for _, c := range r.notCaps {
		if slices.Contains(caps, c) {
			return false
		}
	}
	if r.minKernel != [2]int{} && !kernelAtLeast(r.minKernel) {
		return false
	}
	return true
}

func kernelAtLeast(v [2]int) bool {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(uts.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > v[0] || major == v[0] && minor >= v[1]
}

func eq(index uint, value uint64) []specs.LinuxSeccompArg {
	return []specs.LinuxSeccompArg{{Index: index, Value: value, Op: specs.OpEqualTo}}
}

// nsFlags are the clone flags that create namespaces (CLONE_NEWNS,
// CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
// CLONE_NEWNET), which a container without CAP_SYS_ADMIN may not use.
const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// cloneNoNS allows clone only without namespace flags: (flags & nsFlags) == 0.
func cloneNoNS(index uint) []specs.LinuxSeccompArg {
	return []specs.LinuxSeccompArg{{Index: index, Value: nsFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}}
}

var defaultRules = []profileRule{
	// Allowed to every container.
	{action: specs.ActAllow, names: []string{
		"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk",
		"cachestat", "capget", "capset", "chdir", "chmod", "chown", "chown32",
		"clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
		"clock_gettime", "clock_gettime64", "clock_nanosleep",
		"clock_nanosleep_time64", "close", "close_range", "connect",
		"copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
		"epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
		"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
		"execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
		"fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir",
		"fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
		"fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
		"fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64",
		"fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
		"futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake",
		"futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
		"getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
		"getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
		"getppid", "getpriority", "getrandom", "getresgid", "getresgid32",
		"getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
		"getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
		"gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
		"inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
		"io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
		"io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
		"io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
		"landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link",
		"linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr",
		"_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
		"madvise", "map_shadow_stack", "membarrier", "memfd_create",
		"memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
		"mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
		"mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
		"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal",
		"msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
		"munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
		"open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal",
		"pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
		"ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
		"prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
		"pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat",
		"readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
		"remap_file_pages", "removexattr", "removexattrat", "rename", "renameat",
		"renameat2", "restart_syscall", "riscv_hwprobe", "rmdir", "rseq",
		"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
		"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
		"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
		"sched_getattr", "sched_getparam", "sched_get_priority_max",
		"sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
		"sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
		"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
		"semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
		"sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
		"setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
		"setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
		"setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
		"setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
		"setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32",
		"setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
		"sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
		"socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
		"statfs64", "statmount", "statx", "symlink", "symlinkat", "sync",
		"sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
		"timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
		"timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
		"timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
		"timerfd_settime64", "times", "tkill", "truncate", "truncate64",
		"ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime",
		"utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4",
		"waitid", "waitpid", "write", "writev",
	}},
	// Before 4.8 ptrace let a tracer change the syscall after seccomp had
	// checked it.
	{action: specs.ActAllow, minKernel: [2]int{4, 8}, names: []string{
		"process_vm_readv", "process_vm_writev", "ptrace",
	}},
	// Every socket family but AF_ALG (38, the kernel crypto API, a steady
	// source of kernel bugs) and AF_VSOCK (40, which reaches the host or
	// hypervisor around the container's network namespace). Three rules
	// the filter ORs: domain < AF_ALG, == AF_ALG+1, > AF_VSOCK.
	{action: specs.ActAllow, names: []string{"socket"}, args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_ALG, Op: specs.OpLessThan}}},
	{action: specs.ActAllow, names: []string{"socket"}, args: eq(0, unix.AF_ALG+1)},
	{action: specs.ActAllow, names: []string{"socket"}, args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_VSOCK, Op: specs.OpGreaterThan}}},
	// Only the personalities programs ask for: PER_LINUX, PER_LINUX32,
	// UNAME26 with either, and 0xffffffff, which only queries. Others (e.g.
	// ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) weaken ASLR and NX.
	{action: specs.ActAllow, names: []string{"personality"}, args: eq(0, 0x0)},
	{action: specs.ActAllow, names: []string{"personality"}, args: eq(0, 0x0008)},
	{action: specs.ActAllow, names: []string{"personality"}, args: eq(0, 0x20000)},
	{action: specs.ActAllow, names: []string{"personality"}, args: eq(0, 0x20008)},
	{action: specs.ActAllow, names: []string{"personality"}, args: eq(0, 0xffffffff)},

	// Architecture-specific syscalls.
	{action: specs.ActAllow, arches: []string{"ppc64le"}, names: []string{"sync_file_range2", "swapcontext"}},
	{action: specs.ActAllow, arches: []string{"arm", "arm64"}, names: []string{
		"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls",
	}},
	{action: specs.ActAllow, arches: []string{"amd64"}, names: []string{"arch_prctl"}},
	{action: specs.ActAllow, arches: []string{"amd64", "386"}, names: []string{"modify_ldt"}},
	{action: specs.ActAllow, arches: []string{"s390x"}, names: []string{"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"}},
	{action: specs.ActAllow, arches: []string{"riscv64"}, names: []string{"riscv_flush_icache"}},

	// Syscalls a capability grants: allowed only when the container has it.
	{action: specs.ActAllow, caps: []string{"CAP_DAC_READ_SEARCH"}, names: []string{"open_by_handle_at"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_ADMIN"}, names: []string{
		"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
		"lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr",
		"mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl",
		"quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2",
		"unshare",
	}},
	// Without CAP_SYS_ADMIN, clone only without namespace flags (s390 has
	// flags as the second argument). clone3 passes its flags in memory the
	// filter cannot read, so it fails with ENOSYS, which makes glibc and
	// musl fall back to clone.
	{action: specs.ActAllow, notCaps: []string{"CAP_SYS_ADMIN"}, notArches: []string{"s390x"}, names: []string{"clone"}, args: cloneNoNS(0)},
	{action: specs.ActAllow, notCaps: []string{"CAP_SYS_ADMIN"}, arches: []string{"s390x"}, names: []string{"clone"}, args: cloneNoNS(1)},
	{action: specs.ActErrno, errnoRet: uint(unix.ENOSYS), notCaps: []string{"CAP_SYS_ADMIN"}, names: []string{"clone3"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_BOOT"}, names: []string{"reboot"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_CHROOT"}, names: []string{"chroot"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_MODULE"}, names: []string{"delete_module", "init_module", "finit_module"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_PACCT"}, names: []string{"acct"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_PTRACE"}, names: []string{
		"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace",
	}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_RAWIO"}, names: []string{"iopl", "ioperm"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_TIME"}, names: []string{"settimeofday", "stime", "clock_settime", "clock_settime64"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_TTY_CONFIG"}, names: []string{"vhangup"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYS_NICE"}, names: []string{"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
	{action: specs.ActAllow, caps: []string{"CAP_SYSLOG"}, names: []string{"syslog"}},
	{action: specs.ActAllow, caps: []string{"CAP_BPF"}, names: []string{"bpf"}},
	{action: specs.ActAllow, caps: []string{"CAP_PERFMON"}, names: []string{"perf_event_open"}},
}
