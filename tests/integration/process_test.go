package integration

import (
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/internal/testbundle"
)

func TestProcessArgsEnvCwd(t *testing.T) {
	r := newRuntime(t)
	b := testbundle.New(t,
		testbundle.WithArgs("sh", "-c", `echo "0=$0 1=$1 2=$2"; echo "FOO=$FOO"; pwd; env | sort`, "zero", "one arg", ""),
		testbundle.WithEnv("FOO=bar  baz", "EMPTY="),
		testbundle.WithCwd("/home/test"))
	out := r.output(b, newID(t))
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || lines[0] != "0=zero 1=one arg 2=" || lines[1] != "FOO=bar  baz" || lines[2] != "/home/test" {
		t.Errorf("args/env/cwd:\n%s", out)
	}
	env := strings.Join(lines[3:], "\n")
	for _, want := range []string{"PATH=/usr/local/sbin:", "TERM=xterm", "EMPTY="} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	// Nothing of the runtime's own environment leaks in.
	if strings.Contains(env, "HUTCH") || strings.Contains(env, "GO") && strings.Contains(env, "GOPATH") {
		t.Errorf("the runtime's environment leaked into the container:\n%s", env)
	}
}

// TestProcessCwdMissing: a cwd that does not exist is created (runc does
// the same) or refused clearly; either way the container does not start
// somewhere else.
func TestProcessCwdMissing(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "pwd", testbundle.WithCwd("/does/not/exist"))
	id := newID(t)
	res := r.runContainer(b, id)
	if res.Code == 0 && res.Stdout != "/does/not/exist\n" {
		t.Errorf("cwd missing: started in %q", res.Stdout)
	}
	if res.Code != 0 {
		assertOneLineError(t, res, "cwd")
	}
	r.assertNothingLeft(id)
}

func TestProcessUser(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "id -u; id -g; grep -E '^(Uid|Gid|Groups):' /proc/self/status",
		testbundle.WithUser(1000, 1000),
		testbundle.WithSpec(func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{100, 5} }))
	out := r.output(b, newID(t))
	want := "1000\n1000\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t5 100 \n"
	if out != want {
		t.Errorf("user:\n%q\nwant\n%q", out, want)
	}
	// No additionalGids: no supplementary groups at all (root's are not
	// inherited).
	b2 := shBundle(t, "grep '^Groups:' /proc/self/status", testbundle.WithUser(1000, 1000))
	if out := r.output(b2, newID(t)); strings.TrimSpace(out) != "Groups:" {
		t.Errorf("supplementary groups without additionalGids: %q", out)
	}
}

func TestProcessUmask(t *testing.T) {
	r := newRuntime(t)
	for _, tc := range []struct {
		umask *uint32
		want  string
	}{{ptr(uint32(0o027)), "0027"}, {ptr(uint32(0o077)), "0077"}, {nil, "0022"}} {
		b := shBundle(t, "umask; touch /tmp/f; stat -c %a /tmp/f", testbundle.WithWritableRootfs(),
			testbundle.WithSpec(func(s *specs.Spec) { s.Process.User.Umask = tc.umask }))
		out := r.output(b, newID(t))
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || lines[0] != tc.want {
			t.Errorf("umask %v: %q, want %s", tc.umask, out, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestProcessRlimits(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "ulimit -n; ulimit -Hn; grep -E 'Max (open files|processes|core file size)' /proc/self/limits",
		testbundle.WithSpec(func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 768},
				{Type: "RLIMIT_NPROC", Soft: 300, Hard: 400},
				{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
			}
		}))
	out := r.output(b, newID(t))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || lines[0] != "512" || lines[1] != "768" {
		t.Fatalf("rlimits:\n%s", out)
	}
	for _, want := range [][]string{{"core", "0", "0"}, {"processes", "300", "400"}, {"open files", "512", "768"}} {
		found := false
		for _, l := range lines[2:] {
			f := strings.Fields(l)
			if strings.Contains(l, want[0]) && len(f) >= 3 && f[len(f)-3] == want[1] && f[len(f)-2] == want[2] {
				found = true
			}
		}
		if !found {
			t.Errorf("/proc/self/limits has no %s %s %s:\n%s", want[0], want[1], want[2], out)
		}
	}
}

// TestProcessRlimitAboveHardRefused: this machine's root lacks
// CAP_SYS_RESOURCE, so a hard limit above the runtime's own cannot be set:
// a clear error naming the rlimit, and nothing left behind.
func TestProcessRlimitAboveHardRefused(t *testing.T) {
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil {
		t.Fatal(err)
	}
	if hasCap(t, unix.CAP_SYS_RESOURCE) {
		t.Skip("the runtime may raise hard limits here (CAP_SYS_RESOURCE)")
	}
	r := newRuntime(t)
	b := shBundle(t, "ulimit -Hn", testbundle.WithSpec(func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: cur.Max + 10, Hard: cur.Max + 10}}
	}))
	id := newID(t)
	res := r.tryCreate(b, id)
	assertOneLineError(t, res, "RLIMIT_NOFILE")
	r.assertNothingLeft(id)
	res = r.runContainer(b, id)
	assertOneLineError(t, res, "RLIMIT_NOFILE")
	r.assertNothingLeft(id)
}

// hasCap reports whether this process has capability c in its effective
// set.
func hasCap(t *testing.T, c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}

// capMask is the /proc/PID/status hex form of a capability set.
func capMask(nums ...int) string {
	var m uint64
	for _, n := range nums {
		m |= 1 << uint(n)
	}
	return fmt.Sprintf("%016x", m)
}

func TestProcessCapabilities(t *testing.T) {
	r := newRuntime(t)
	script := "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status"
	statusOf := func(out string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				m[k] = strings.TrimSpace(v)
			}
		}
		return m
	}
	t.Run("root", func(t *testing.T) {
		b := shBundle(t, script, testbundle.WithSpec(func(s *specs.Spec) {
			set := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"}
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: set, Effective: set, Permitted: set}
		}))
		got := statusOf(r.output(b, newID(t)))
		want := capMask(unix.CAP_CHOWN, unix.CAP_KILL, unix.CAP_NET_RAW)
		for _, k := range []string{"CapPrm", "CapEff", "CapBnd"} {
			if got[k] != want {
				t.Errorf("%s = %s, want %s", k, got[k], want)
			}
		}
		for _, k := range []string{"CapInh", "CapAmb"} {
			if got[k] != capMask() {
				t.Errorf("%s = %s, want 0", k, got[k])
			}
		}
	})
	t.Run("non-root with ambient", func(t *testing.T) {
		b := shBundle(t, script+"; ping -c1 -W1 127.0.0.1 >/dev/null 2>&1; echo ping=$?", testbundle.WithUser(1000, 1000),
			testbundle.WithSpec(func(s *specs.Spec) {
				set := []string{"CAP_NET_RAW"}
				bnd := []string{"CAP_NET_RAW", "CAP_SYS_ADMIN"}
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: bnd, Effective: set, Permitted: set, Inheritable: set, Ambient: set}
				s.Process.NoNewPrivileges = true
			}))
		out := r.output(b, newID(t))
		got := statusOf(out)
		raw := capMask(unix.CAP_NET_RAW)
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
			if got[k] != raw {
				t.Errorf("%s = %s, want %s", k, got[k], raw)
			}
		}
		if want := capMask(unix.CAP_NET_RAW, unix.CAP_SYS_ADMIN); got["CapBnd"] != want {
			t.Errorf("CapBnd = %s, want %s", got["CapBnd"], want)
		}
	})
	t.Run("none", func(t *testing.T) {
		b := shBundle(t, script, testbundle.WithSpec(func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{}
		}))
		got := statusOf(r.output(b, newID(t)))
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if got[k] != capMask() {
				t.Errorf("%s = %s, want 0", k, got[k])
			}
		}
	})
	t.Run("unknown capability", func(t *testing.T) {
		b := shBundle(t, "true", testbundle.WithSpec(func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_NOPE")
		}))
		id := newID(t)
		res := r.runContainer(b, id)
		// runc warns and ignores unknown capabilities (newer kernels
		// may know them); refusing is fine too, but must name it.
		if res.Code != 0 {
			assertOneLineError(t, res, "CAP_NOPE")
		}
		r.assertNothingLeft(id)
	})
}

func TestProcessNoNewPrivileges(t *testing.T) {
	r := newRuntime(t)
	for _, tc := range []struct {
		nnp  bool
		want string
	}{{true, "1"}, {false, "0"}} {
		b := shBundle(t, "grep NoNewPrivs /proc/self/status", testbundle.WithSpec(func(s *specs.Spec) {
			s.Process.NoNewPrivileges = tc.nnp
		}))
		out := r.output(b, newID(t))
		if f := strings.Fields(out); len(f) != 2 || f[1] != tc.want {
			t.Errorf("noNewPrivileges %v: %q, want NoNewPrivs: %s", tc.nnp, out, tc.want)
		}
	}
}

func TestProcessOOMScoreAdj(t *testing.T) {
	r := newRuntime(t)
	// Raising only: lowering below the caller's value needs
	// CAP_SYS_RESOURCE, which root lacks on these machines.
	for _, adj := range []int{123, 1000} {
		b := shBundle(t, "cat /proc/self/oom_score_adj", testbundle.WithSpec(func(s *specs.Spec) {
			s.Process.OOMScoreAdj = ptr(adj)
		}))
		if out := r.output(b, newID(t)); strings.TrimSpace(out) != fmt.Sprint(adj) {
			t.Errorf("oomScoreAdj %d: got %q", adj, out)
		}
	}
	// Unset: the runtime's own value is kept.
	own := strings.TrimSpace(readFile(t, "/proc/self/oom_score_adj"))
	b := shBundle(t, "cat /proc/self/oom_score_adj")
	if out := r.output(b, newID(t)); strings.TrimSpace(out) != own {
		t.Errorf("oomScoreAdj unset: %q, want the caller's %s", out, own)
	}
}
