package seccomp

import (
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

func uintp(v uint) *uint { return &v }

func TestValidateAccepts(t *testing.T) {
	for name, cfg := range map[string]*specs.LinuxSeccomp{
		"nil":     nil,
		"default": DefaultProfile(),
		"all actions and operators": {
			DefaultAction:   specs.ActErrno,
			DefaultErrnoRet: uintp(38),
			Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchSHEB},
			Flags:           []specs.LinuxSeccompFlag{FlagTsync, specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
			ListenerPath:    "/run/agent.sock",
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read"}, Action: specs.ActAllow},
				{Names: []string{"a"}, Action: specs.ActKill},
				{Names: []string{"b"}, Action: specs.ActKillThread},
				{Names: []string{"c"}, Action: specs.ActKillProcess},
				{Names: []string{"d"}, Action: specs.ActTrap},
				{Names: []string{"e"}, Action: specs.ActErrno, ErrnoRet: uintp(0)},
				{Names: []string{"f"}, Action: specs.ActTrace, ErrnoRet: uintp(65535)},
				{Names: []string{"g"}, Action: specs.ActLog},
				{Names: []string{"h"}, Action: specs.ActNotify},
				{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
					{Index: 0, Value: 1, Op: specs.OpNotEqual},
					{Index: 1, Value: 1, Op: specs.OpLessThan},
					{Index: 2, Value: 1, Op: specs.OpLessEqual},
					{Index: 3, Value: 1, Op: specs.OpEqualTo},
					{Index: 4, Value: 1, Op: specs.OpGreaterEqual},
					{Index: 5, Value: 1, Op: specs.OpGreaterThan},
					{Index: 5, Value: 1, ValueTwo: 1, Op: specs.OpMaskedEqual},
				}},
				// Unknown to libseccomp: skipped, as runc does.
				{Names: []string{"no_such_syscall_hutch"}, Action: specs.ActAllow},
			},
		},
		"empty flags": {DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{}},
	} {
		if err := Validate(cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	allow := func(sc ...specs.LinuxSyscall) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: sc}
	}
	for _, tc := range []struct {
		cfg  *specs.LinuxSeccomp
		want string
	}{
		{&specs.LinuxSeccomp{}, `linux.seccomp.defaultAction: required`},
		{&specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"}, `linux.seccomp.defaultAction "SCMP_ACT_FOO": unknown action`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActNotify, ListenerPath: "/x"}, `linux.seccomp.defaultAction "SCMP_ACT_NOTIFY": cannot be the default action`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uintp(1)}, `linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(70000)}, `linux.seccomp.defaultErrnoRet 70000: out of range 0 to 65535`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86, "SCMP_ARCH_VAX"}}, `linux.seccomp.architectures[1] "SCMP_ARCH_VAX": unknown architecture`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FOO"}}, `linux.seccomp.flags[0] "SECCOMP_FILTER_FLAG_FOO": unknown flag`},
		{allow(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActErrno}, specs.LinuxSyscall{}, specs.LinuxSyscall{}, specs.LinuxSyscall{Names: []string{"read"}, Action: "SCMP_ACT_FOO"}),
			`linux.seccomp.syscalls[1].action "": unknown action`},
		{allow(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActErrno}, specs.LinuxSyscall{Names: []string{"read"}, Action: "SCMP_ACT_FOO"}),
			`linux.seccomp.syscalls[1].action "SCMP_ACT_FOO": unknown action`},
		{allow(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActLog, ErrnoRet: uintp(1)}),
			`linux.seccomp.syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_LOG`},
		{allow(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uintp(1 << 16)}),
			`linux.seccomp.syscalls[0].errnoRet 65536: out of range 0 to 65535`},
		{allow(specs.LinuxSyscall{Action: specs.ActErrno}), `linux.seccomp.syscalls[0].names: must name at least one syscall`},
		{allow(specs.LinuxSyscall{Names: []string{"read", ""}, Action: specs.ActErrno}), `linux.seccomp.syscalls[0].names[1]: empty syscall name`},
		{allow(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo}, {Index: 6, Op: specs.OpEqualTo}}}),
			`linux.seccomp.syscalls[0].args[1].index 6: syscalls have arguments 0 to 5`},
		{allow(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_FOO"}}}),
			`linux.seccomp.syscalls[0].args[0].op "SCMP_CMP_FOO": unknown operator`},
		{allow(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActNotify}),
			`linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY`},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/x", Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActNotify}}},
			`linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY cannot be used for the write syscall`},
	} {
		err := Validate(tc.cfg)
		if err == nil {
			t.Errorf("Validate(%+v) = nil, want %q", tc.cfg, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %q, want %q", tc.cfg, err, tc.want)
		}
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("Validate(%+v) = %q, not an invalid argument", tc.cfg, err)
		}
		// Load checks the same way before it installs anything.
		if _, lerr := Load(tc.cfg); lerr == nil || lerr.Error() != err.Error() {
			t.Errorf("Load(%+v) = %v, want %q", tc.cfg, lerr, err)
		}
	}
}

func TestKernelHasFlag(t *testing.T) {
	for _, f := range []uint{unix.SECCOMP_FILTER_FLAG_TSYNC, unix.SECCOMP_FILTER_FLAG_LOG, unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW} {
		if !kernelHasFlag(f) {
			t.Errorf("kernel does not have flag %#x", f)
		}
	}
	if kernelHasFlag(1 << 30) {
		t.Errorf("kernel has flag 1<<30")
	}
}

// The default profile's clone and socket rules are written with constants;
// these are the numbers Docker's profile has.
func TestDefaultProfileConstants(t *testing.T) {
	if nsFlags != 2114060288 {
		t.Errorf("nsFlags = %d, want 2114060288", nsFlags)
	}
	if unix.AF_ALG != 38 || unix.AF_VSOCK != 40 {
		t.Errorf("AF_ALG = %d, AF_VSOCK = %d, want 38 and 40", unix.AF_ALG, unix.AF_VSOCK)
	}
}

func TestDefaultProfileCaps(t *testing.T) {
	has := func(p *specs.LinuxSeccomp, name string, act specs.LinuxSeccompAction) bool {
		for _, sc := range p.Syscalls {
			for _, n := range sc.Names {
				if n == name && sc.Action == act && len(sc.Args) == 0 {
					return true
				}
			}
		}
		return false
	}
	def := DefaultProfile()
	if def.DefaultAction != specs.ActErrno || def.DefaultErrnoRet == nil || *def.DefaultErrnoRet != uint(unix.EPERM) {
		t.Errorf("default action %s %v, want SCMP_ACT_ERRNO EPERM", def.DefaultAction, def.DefaultErrnoRet)
	}
	for _, n := range []string{"read", "chroot", "arch_prctl", "ptrace"} {
		if !has(def, n, specs.ActAllow) {
			t.Errorf("default profile does not allow %s", n)
		}
	}
	for _, n := range []string{"mount", "unshare", "setns", "keyctl", "reboot", "init_module", "bpf"} {
		if has(def, n, specs.ActAllow) {
			t.Errorf("default profile allows %s", n)
		}
	}
	if !has(def, "clone3", specs.ActErrno) {
		t.Errorf("default profile does not make clone3 fail")
	}

	admin := DefaultProfileFor(append(DefaultCaps[:len(DefaultCaps):len(DefaultCaps)], "CAP_SYS_ADMIN"))
	for _, n := range []string{"mount", "unshare", "setns", "clone", "clone3"} {
		if !has(admin, n, specs.ActAllow) {
			t.Errorf("profile with CAP_SYS_ADMIN does not allow %s", n)
		}
	}
	if has(admin, "clone3", specs.ActErrno) {
		t.Errorf("profile with CAP_SYS_ADMIN still makes clone3 fail")
	}

	// Values, not shared state: changing one profile leaves the next alone.
	def.Syscalls[0].Names[0] = "changed"
	if DefaultProfile().Syscalls[0].Names[0] == "changed" {
		t.Error("DefaultProfile returns shared slices")
	}
}
