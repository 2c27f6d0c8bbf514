package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

func TestNamespacesHostname(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "hostname; cat /proc/sys/kernel/hostname; cat /proc/sys/kernel/domainname",
		testbundle.WithHostname("hutch-it-host"),
		testbundle.WithSpec(func(s *specs.Spec) { s.Domainname = "it.example" }))
	out := r.output(b, newID(t))
	if out != "hutch-it-host\nhutch-it-host\nit.example\n" {
		t.Errorf("hostname/domainname inside:\n%s\nwant hutch-it-host twice and it.example", out)
	}
	if h, _ := os.Hostname(); h == "hutch-it-host" {
		t.Errorf("the host's hostname was changed")
	}
}

func TestNamespacesPid1(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'")
	out := r.output(b, newID(t))
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || lines[0] != "1" {
		t.Fatalf("the process's pid inside is not 1:\n%s", out)
	}
	if !strings.HasPrefix(lines[1], "sh -c ") {
		t.Errorf("/proc/1/cmdline = %q, want the container's sh", lines[1])
	}
	// sh, ls, grep and maybe a subshell: a handful, not the host's.
	if n, _ := strconv.Atoi(strings.TrimSpace(lines[2])); n == 0 || n > 5 {
		t.Errorf("%s processes visible in /proc, want only the container's", lines[2])
	}
}

func TestNamespacesNetworkOnlyLoopback(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "ls /sys/class/net; cat /sys/class/net/lo/flags; readlink /proc/self/ns/net")
	out := r.output(b, newID(t))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "lo" {
		t.Fatalf("interfaces in a new net ns:\n%s\nwant only lo", out)
	}
	flags, err := strconv.ParseUint(strings.TrimPrefix(lines[1], "0x"), 16, 32)
	if err != nil || flags&1 == 0 {
		t.Errorf("lo flags %s: IFF_UP not set", lines[1])
	}
	if lines[2] == hostNS(t, "net") {
		t.Errorf("the container shares the host's net ns %s", lines[2])
	}
}

// TestNamespacesJoinByPath joins the net, ipc and uts namespaces of another
// running container by their /proc/PID/ns paths.
func TestNamespacesJoinByPath(t *testing.T) {
	r := newRuntime(t)
	a := shBundle(t, "exec sleep 1000", testbundle.WithHostname("first"))
	idA := newID(t)
	pidA := r.startDetached(a, idA)
	nsA := map[string]string{}
	for _, typ := range []string{"net", "ipc", "uts"} {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pidA, typ))
		if err != nil {
			t.Fatal(err)
		}
		nsA[typ] = l
		if l == hostNS(t, typ) {
			t.Errorf("container A shares the host's %s namespace", typ)
		}
	}
	b := shBundle(t, "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname; ls /sys/class/net",
		testbundle.WithNamespace(specs.NetworkNamespace, fmt.Sprintf("/proc/%d/ns/net", pidA)),
		testbundle.WithNamespace(specs.IPCNamespace, fmt.Sprintf("/proc/%d/ns/ipc", pidA)),
		testbundle.WithNamespace(specs.UTSNamespace, fmt.Sprintf("/proc/%d/ns/uts", pidA)),
		// Joining a uts namespace: the spec forbids setting a hostname.
		testbundle.WithHostname(""),
	)
	out := r.output(b, newID(t))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 {
		t.Fatalf("output:\n%s", out)
	}
	for i, typ := range []string{"net", "ipc", "uts"} {
		if lines[i] != nsA[typ] {
			t.Errorf("joined %s ns: %s inside, want A's %s", typ, lines[i], nsA[typ])
		}
	}
	if lines[3] != "first" {
		t.Errorf("hostname in the joined uts ns = %q, want A's %q", lines[3], "first")
	}
	if strings.Join(lines[4:], " ") != "lo" {
		t.Errorf("interfaces in the joined net ns: %v, want lo", lines[4:])
	}
}

func TestNamespacesDifferFromHost(t *testing.T) {
	r := newRuntime(t)
	types := []string{"ipc", "uts", "mnt", "pid", "net", "cgroup"}
	var script []string
	for _, typ := range types {
		script = append(script, "readlink /proc/self/ns/"+typ)
	}
	b := shBundle(t, strings.Join(script, "; "))
	out := r.output(b, newID(t))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(types) {
		t.Fatalf("output:\n%s", out)
	}
	for i, typ := range types {
		if !strings.HasPrefix(lines[i], typ+":[") {
			t.Errorf("ns %s: %q", typ, lines[i])
		}
		if lines[i] == hostNS(t, typ) {
			t.Errorf("ns %s: the container shares the host's %s", typ, lines[i])
		}
	}
}

// TestNamespacesSharedWhenAbsent: a namespace type missing from the
// config is the runtime's own.
func TestNamespacesSharedWhenAbsent(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "readlink /proc/self/ns/ipc; readlink /proc/self/ns/net",
		testbundle.WithoutNamespace(specs.IPCNamespace), testbundle.WithoutNamespace(specs.NetworkNamespace))
	out := r.output(b, newID(t))
	want := hostNS(t, "ipc") + "\n" + hostNS(t, "net") + "\n"
	if out != want {
		t.Errorf("ipc/net without a namespace entry:\n%s\nwant the host's:\n%s", out, want)
	}
}

// TestNamespacesCgroup: with a cgroup namespace the container sees its
// own cgroup as the root.
func TestNamespacesCgroup(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "cat /proc/self/cgroup")
	id := newID(t)
	out := r.output(b, id)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			t.Fatalf("/proc/self/cgroup line %q", line)
		}
		if parts[2] != "/" {
			t.Errorf("cgroup ns: %q, want / (the namespace rooted at the container's cgroup)", line)
		}
	}
	// Without one, the host's path (naming the container) shows.
	b2 := shBundle(t, "cat /proc/self/cgroup", testbundle.WithoutNamespace(specs.CgroupNamespace))
	id2 := newID(t)
	out2 := r.output(b2, id2)
	mem := ""
	for _, line := range strings.Split(out2, "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && parts[1] == "memory" {
			mem = parts[2]
		}
	}
	if !containsComponent(mem, id2) {
		t.Errorf("without a cgroup ns, memory cgroup %q does not name the container %s\n%s", mem, id2, out2)
	}
}

// TestNamespacesTimeOffsets: a time namespace with linux.timeOffsets moves
// the monotonic and boottime clocks.
func TestNamespacesTimeOffsets(t *testing.T) {
	const monoOff, bootOff = 10 * 86400, 20 * 86400
	r := newRuntime(t)
	b := shBundle(t, "cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime",
		testbundle.WithNamespace(specs.TimeNamespace, ""),
		testbundle.WithSpec(func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
				"monotonic": {Secs: monoOff},
				"boottime":  {Secs: bootOff, Nanosecs: 5000},
			}
		}))
	out := r.output(b, newID(t))
	var mono, boot string
	var uptime int64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "monotonic":
			mono = f[1] + " " + f[2]
		case len(f) == 3 && f[0] == "boottime":
			boot = f[1] + " " + f[2]
		case len(f) == 1:
			uptime, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	if mono != fmt.Sprintf("%d 0", monoOff) || boot != fmt.Sprintf("%d 5000", bootOff) {
		t.Errorf("timens_offsets:\n%s\nwant monotonic %d 0, boottime %d 5000", out, monoOff, bootOff)
	}
	hostUp, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := strconv.ParseFloat(strings.Fields(string(hostUp))[0], 64)
	if uptime < int64(host)+bootOff-60 {
		t.Errorf("uptime inside %d s, host %.0f s: the boottime offset %d is not applied", uptime, host, bootOff)
	}
	// Without a time namespace, the offsets are refused (the spec: they
	// need one).
	b2 := shBundle(t, "true", testbundle.WithSpec(func(s *specs.Spec) {
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 5}}
	}))
	id := newID(t)
	res := r.runContainer(b2, id)
	if res.Code == 0 {
		t.Errorf("timeOffsets without a time namespace: accepted")
	} else {
		assertOneLineError(t, res, "timeOffsets")
	}
	r.assertNothingLeft(id)
}
