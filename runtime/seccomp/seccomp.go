// Package seccomp turns the runtime-spec linux.seccomp section into a kernel
// filter with libseccomp and installs it in the calling process.
//
// Validate, Compile and Load walk the config with the same code (compile),
// so a config that passes Validate can still fail Load only for reasons of
// the host: an architecture this libseccomp cannot build, or the kernel
// refusing the filter. libseccomp only builds the BPF; Hutch loads it with
// seccomp(2) itself (Program.Load), which lets the slow part move out of the
// container's start (Compile on the host, CompileCached) and sets the filter
// flags the kernel has even when libseccomp is older than them.
package seccomp

import (
	"fmt"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// FlagTsync is accepted in linux.seccomp.flags like runc does, although the
// runtime-spec does not list it: the filter is always loaded with TSYNC.
const FlagTsync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// A Linux system call has at most six arguments (seccomp_data.args[6]).
const maxArgs = 6

// libseccomp builds a binary tree of syscall numbers instead of a linear
// list from this many rules on, which makes every filtered syscall cheaper
// in a big profile. Below it the list is as fast, and libseccomp <= 2.5.4
// builds a broken tree for a filter with no rules at all.
const optimizeFrom = 32

// Validate checks a linux.seccomp section without building a filter: the
// default action, architectures, flags (and that this kernel has them),
// every rule's action, errnoRet and argument conditions, and that
// SCMP_ACT_NOTIFY comes with a listenerPath.
// Syscall names that libseccomp does not know are not an error: like runc,
// Load skips them so that one profile serves kernels and libseccomp
// versions of different ages.
func Validate(cfg *specs.LinuxSeccomp) error {
	if cfg == nil {
		return nil
	}
	def, err := convertAction(-1, cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return err
	}
	_, err = compile(cfg, def, nil)
	return err
}

// Load builds the filter of cfg and installs it in the calling process, in
// every thread of it (TSYNC: a Go program runs on several threads and the
// filter must hold whichever of them calls execve). It does not set
// no_new_privs; the caller decides that, and keeps CAP_SYS_ADMIN until Load
// returns when it leaves no_new_privs unset, as the kernel requires one of
// the two to install a filter.
//
// When a rule uses SCMP_ACT_NOTIFY, Load returns the listener fd (close on
// exec) for the caller to hand to the agent at cfg.ListenerPath; otherwise
// it returns -1.
//
// Load is Compile then Program.Load; a runtime that can compile before the
// container's init runs should do so and only call Program.Load there.
func Load(cfg *specs.LinuxSeccomp) (notifyFd int, err error) {
	p, err := Compile(cfg)
	if err != nil {
		return -1, err
	}
	return p.Load()
}

// compile checks cfg and, when filter is not nil, adds to it the
// architectures and rules of cfg. It returns the seccomp(2) flags to load
// the filter with.
func compile(cfg *specs.LinuxSeccomp, def libseccomp.ScmpAction, filter *libseccomp.ScmpFilter) (flags uint, err error) {
	if def == libseccomp.ActNotify {
		// Every syscall would wait for an agent that cannot have the
		// listener yet: the fd is handed over with syscalls of the
		// filtered process itself.
		return 0, errdefs.InvalidArgument("linux.seccomp.defaultAction %q: cannot be the default action", cfg.DefaultAction)
	}

	for i, a := range cfg.Architectures {
		arch, ok := archs[a]
		if !ok {
			return 0, errdefs.InvalidArgument("linux.seccomp.architectures[%d] %q: unknown architecture", i, a)
		}
		if filter != nil {
			if err := filter.AddArch(arch); err != nil {
				return 0, fmt.Errorf("seccomp: linux.seccomp.architectures[%d] %q: add: %w", i, a, err)
			}
		}
	}

	nrules := 0
	notify := false
	for i := range cfg.Syscalls {
		sc := &cfg.Syscalls[i]
		act, err := convertAction(i, sc.Action, sc.ErrnoRet)
		if err != nil {
			return 0, err
		}
		if len(sc.Names) == 0 {
			return 0, errdefs.InvalidArgument("linux.seccomp.syscalls[%d].names: must name at least one syscall", i)
		}

		// Conditions on different arguments are ANDed in one rule. When an
		// argument is named twice, runc adds one rule per condition
		// instead, so they are ORed: libseccomp cannot AND two conditions
		// on one argument, and profiles (Docker's personality, socket)
		// rely on the OR.
		var conds []libseccomp.ScmpCondition
		var perArg [maxArgs]int
		split := false
		if len(sc.Args) > 0 {
			conds = make([]libseccomp.ScmpCondition, len(sc.Args))
		}
		for j, a := range sc.Args {
			if a.Index >= maxArgs {
				return 0, errdefs.InvalidArgument("linux.seccomp.syscalls[%d].args[%d].index %d: syscalls have arguments 0 to 5", i, j, a.Index)
			}
			op, ok := operators[a.Op]
			if !ok {
				return 0, errdefs.InvalidArgument("linux.seccomp.syscalls[%d].args[%d].op %q: unknown operator", i, j, a.Op)
			}
			perArg[a.Index]++
			split = split || perArg[a.Index] > 1
			// For SCMP_CMP_MASKED_EQ libseccomp reads Operand1 as the mask
			// and Operand2 as the value: (arg & value) == valueTwo.
			conds[j] = libseccomp.ScmpCondition{Argument: a.Index, Op: op, Operand1: a.Value, Operand2: a.ValueTwo}
		}

		if act == libseccomp.ActNotify {
			notify = true
			for _, name := range sc.Names {
				// The listener fd leaves the filtered process through a
				// write (to the parent, which forwards it to the agent);
				// with write itself waiting for the agent, nobody ever
				// gets the fd and the container hangs.
				if name == "write" {
					return 0, errdefs.InvalidArgument("linux.seccomp.syscalls[%d]: SCMP_ACT_NOTIFY cannot be used for the write syscall", i)
				}
			}
		}

		for k, name := range sc.Names {
			if name == "" {
				return 0, errdefs.InvalidArgument("linux.seccomp.syscalls[%d].names[%d]: empty syscall name", i, k)
			}
			if filter == nil {
				continue
			}
			// libseccomp refuses a rule whose action is the default one;
			// it changes nothing, so skip it like runc does.
			if act == def {
				continue
			}
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				// A syscall this libseccomp does not know is one the
				// kernel is unlikely to have; the default action covers
				// it.
				continue
			}
			if err := addRules(filter, nr, act, conds, split); err != nil {
				return 0, fmt.Errorf("seccomp: linux.seccomp.syscalls[%d] %q: add rule: %w", i, name, err)
			}
			nrules++
		}
	}

	if flags, err = filterFlags(cfg.Flags, notify); err != nil {
		return 0, err
	}
	if notify {
		if cfg.ListenerPath == "" {
			return 0, errdefs.InvalidArgument("linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY")
		}
		if api := apiLevel(); api < 6 {
			return 0, errdefs.NotImplemented("linux.seccomp: SCMP_ACT_NOTIFY needs libseccomp >= 2.5 and Linux >= 5.7 (api level %d)", api)
		}
	}

	if filter != nil && nrules >= optimizeFrom {
		// Level 2 is the binary tree; an old libseccomp without it still
		// builds a correct (linear) filter, so the error is not fatal.
		_ = filter.SetOptimize(2)
	}
	return flags, nil
}

func addRules(filter *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, act libseccomp.ScmpAction, conds []libseccomp.ScmpCondition, split bool) error {
	if len(conds) == 0 {
		return filter.AddRule(nr, act)
	}
	if !split {
		return filter.AddRuleConditional(nr, act, conds)
	}
	for j := range conds {
		if err := filter.AddRuleConditional(nr, act, conds[j:j+1]); err != nil {
			return err
		}
	}
	return nil
}

// filterFlags turns the spec's filter flags into seccomp(2) flags, checking
// that the kernel has each.
func filterFlags(names []specs.LinuxSeccompFlag, notify bool) (uint, error) {
	var flags uint
	if notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	if names == nil {
		// No flags at all (not even an empty list): allow speculative
		// store bypass like runc does. Without it kernels whose
		// spec_store_bypass_disable is "seccomp" (the x86 default before
		// 5.16) force the mitigation, and its cost, on every filtered task.
		if kernelHasFlag(unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW) {
			flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		}
		return flags, nil
	}
	for i, name := range names {
		var f uint
		switch name {
		case FlagTsync:
			// Always on (see Program.Load).
			continue
		case specs.LinuxSeccompFlagLog:
			f = unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			f = unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case specs.LinuxSeccompFlagWaitKillableRecv:
			f = unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		default:
			return 0, errdefs.InvalidArgument("linux.seccomp.flags[%d] %q: unknown flag", i, name)
		}
		if !kernelHasFlag(f) {
			return 0, errdefs.NotImplemented("linux.seccomp.flags[%d] %q: not supported by this kernel", i, name)
		}
		// The kernel takes WAIT_KILLABLE_RECV only with a listener; it
		// changes how the listener's agent is waited for, so without
		// SCMP_ACT_NOTIFY it has nothing to do.
		if f == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV && !notify {
			continue
		}
		flags |= f
	}
	return flags, nil
}

// kernelHasFlag asks the kernel whether it knows a filter flag: given no
// program, seccomp(2) fails with EFAULT once it has accepted the flags and
// with EINVAL before. Nothing is installed either way.
func kernelHasFlag(f uint) bool {
	if f == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
		// Only valid with a listener.
		f |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(f), 0)
	return errno == unix.EFAULT
}

// apiLevel is what libseccomp says it and the running kernel support
// together (0 when it cannot tell); libseccomp probes the kernel once and
// keeps the answer.
func apiLevel() uint {
	api, _ := libseccomp.GetAPI()
	return api
}

// convertAction maps the action of rule i (or the default action when i is
// negative) to libseccomp's, with its errno. ERRNO and TRACE without an
// errnoRet return EPERM, as runc does and the spec asks for defaultErrnoRet.
func convertAction(i int, a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	act, ok := actions[a]
	if !ok {
		if a == "" && i < 0 {
			return libseccomp.ActInvalid, errdefs.InvalidArgument("linux.seccomp.defaultAction: required")
		}
		return libseccomp.ActInvalid, errdefs.InvalidArgument("%s %q: unknown action", field(i, "action"), a)
	}
	if act != libseccomp.ActErrno && act != libseccomp.ActTrace {
		if errnoRet != nil {
			// The spec: when the action doesn't support an errno, the
			// runtime MUST print an error and fail.
			return libseccomp.ActInvalid, errdefs.InvalidArgument("%s: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s", field(i, "errnoRet"), a)
		}
		return act, nil
	}
	code := uint(unix.EPERM)
	if errnoRet != nil {
		code = *errnoRet
		// The kernel has 16 bits for it (SECCOMP_RET_DATA).
		if code > 0xffff {
			return libseccomp.ActInvalid, errdefs.InvalidArgument("%s %d: out of range 0 to 65535", field(i, "errnoRet"), code)
		}
	}
	return act.SetReturnCode(int16(uint16(code))), nil
}

// field names a field of rule i, or the matching default* field of
// linux.seccomp when i is negative.
func field(i int, name string) string {
	if i < 0 {
		return "linux.seccomp.default" + strings.ToUpper(name[:1]) + name[1:]
	}
	return fmt.Sprintf("linux.seccomp.syscalls[%d].%s", i, name)
}

var actions = map[specs.LinuxSeccompAction]libseccomp.ScmpAction{
	// SCMP_ACT_KILL is libseccomp's older name for killing the thread
	// (SECCOMP_RET_KILL_THREAD, once SECCOMP_RET_KILL).
	specs.ActKill:        libseccomp.ActKillThread,
	specs.ActKillThread:  libseccomp.ActKillThread,
	specs.ActKillProcess: libseccomp.ActKillProcess,
	specs.ActTrap:        libseccomp.ActTrap,
	specs.ActErrno:       libseccomp.ActErrno,
	specs.ActTrace:       libseccomp.ActTrace,
	specs.ActAllow:       libseccomp.ActAllow,
	specs.ActLog:         libseccomp.ActLog,
	specs.ActNotify:      libseccomp.ActNotify,
}

var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

var archs = map[specs.Arch]libseccomp.ScmpArch{
	specs.ArchX86:         libseccomp.ArchX86,
	specs.ArchX86_64:      libseccomp.ArchAMD64,
	specs.ArchX32:         libseccomp.ArchX32,
	specs.ArchARM:         libseccomp.ArchARM,
	specs.ArchAARCH64:     libseccomp.ArchARM64,
	specs.ArchMIPS:        libseccomp.ArchMIPS,
	specs.ArchMIPS64:      libseccomp.ArchMIPS64,
	specs.ArchMIPS64N32:   libseccomp.ArchMIPS64N32,
	specs.ArchMIPSEL:      libseccomp.ArchMIPSEL,
	specs.ArchMIPSEL64:    libseccomp.ArchMIPSEL64,
	specs.ArchMIPSEL64N32: libseccomp.ArchMIPSEL64N32,
	specs.ArchPPC:         libseccomp.ArchPPC,
	specs.ArchPPC64:       libseccomp.ArchPPC64,
	specs.ArchPPC64LE:     libseccomp.ArchPPC64LE,
	specs.ArchS390:        libseccomp.ArchS390,
	specs.ArchS390X:       libseccomp.ArchS390X,
	specs.ArchPARISC:      libseccomp.ArchPARISC,
	specs.ArchPARISC64:    libseccomp.ArchPARISC64,
	specs.ArchRISCV64:     libseccomp.ArchRISCV64,
	specs.ArchLOONGARCH64: libseccomp.ArchLOONGARCH64,
	specs.ArchM68K:        libseccomp.ArchM68K,
	specs.ArchSH:          libseccomp.ArchSH,
	specs.ArchSHEB:        libseccomp.ArchSHEB,
}
