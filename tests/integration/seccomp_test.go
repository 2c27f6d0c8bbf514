package integration

import (
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

func withSeccomp(sc *specs.LinuxSeccomp, nnp bool) testbundle.Option {
	return testbundle.WithSpec(func(s *specs.Spec) {
		s.Linux.Seccomp = sc
		s.Process.NoNewPrivileges = nnp
	})
}

// TestSeccompErrno: SCMP_ACT_ERRNO on mkdir makes busybox mkdir fail with
// that errno while everything else works, with and without no_new_privs
// (without it the filter is loaded while the init still has
// CAP_SYS_ADMIN).
func TestSeccompErrno(t *testing.T) {
	r := newRuntime(t)
	for _, tc := range []struct {
		errno *uint
		msg   string
	}{{nil, "Operation not permitted"}, {ptr(uint(13)), "Permission denied"}, {ptr(uint(28)), "No space left on device"}} {
		for _, nnp := range []bool{true, false} {
			name := fmt.Sprintf("errnoRet=%v/noNewPrivileges=%v", tc.errno != nil, nnp)
			if tc.errno != nil {
				name = fmt.Sprintf("errnoRet=%d/noNewPrivileges=%v", *tc.errno, nnp)
			}
			t.Run(name, func(t *testing.T) {
				sc := &specs.LinuxSeccomp{
					DefaultAction: specs.ActAllow,
					Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
					Syscalls: []specs.LinuxSyscall{{
						Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: tc.errno,
					}},
				}
				b := shBundle(t, "mkdir /tmp/newdir; echo mkdir=$?; touch /tmp/file && echo touch-ok; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
					testbundle.WithWritableRootfs(), withSeccomp(sc, nnp))
				res := r.runContainer(b, newID(t))
				want := fmt.Sprintf("mkdir=1\ntouch-ok\nNoNewPrivs:\t%d\nSeccomp:\t2\n", map[bool]int{true: 1, false: 0}[nnp])
				if res.Code != 0 || res.Stdout != want {
					t.Errorf("seccomp:\n%v\nwant stdout:\n%s", res, want)
				}
				if !strings.Contains(res.Stderr, tc.msg) {
					t.Errorf("mkdir error %q, want %q", res.Stderr, tc.msg)
				}
				if _, err := readDir(b.Path("/tmp/newdir")); err == nil {
					t.Errorf("the directory was created despite the filter")
				}
			})
		}
	}
}

// TestSeccompArgumentCondition: a rule with an argument condition only
// matches those calls (kill with signal SIGUSR1).
func TestSeccompArgumentCondition(t *testing.T) {
	r := newRuntime(t)
	sc := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(1)),
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: 10, Op: specs.OpEqualTo}},
		}},
	}
	b := shBundle(t, "trap '' USR1 USR2; kill -USR1 $$; echo usr1=$?; kill -USR2 $$; echo usr2=$?", withSeccomp(sc, true))
	res := r.runContainer(b, newID(t))
	if res.Stdout != "usr1=1\nusr2=0\n" {
		t.Errorf("kill with an argument condition: %v", res)
	}
}

// TestSeccompDefaultErrno: an allow-list profile (defaultAction
// SCMP_ACT_ERRNO with defaultErrnoRet) refuses what it does not list.
func TestSeccompDefaultErrno(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "true", withSeccomp(&specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: ptr(uint(38)),
		Syscalls: []specs.LinuxSyscall{{Names: []string{"uname"}, Action: specs.ActAllow}},
	}, true))
	id := newID(t)
	// execve itself is refused (ENOSYS): the runtime must report it, not
	// hang.
	res := r.runContainer(b, id)
	if res.Code == 0 {
		t.Errorf("a profile refusing execve: the container ran: %v", res)
	}
	r.assertNothingLeft(id)
}

func TestSeccompInvalidProfile(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "true", withSeccomp(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: "SCMP_ACT_NOPE"}},
	}, true))
	id := newID(t)
	res := r.tryCreate(b, id)
	assertOneLineError(t, res, "SCMP_ACT_NOPE")
	r.assertNothingLeft(id)
}
