package runtime

import (
	"encoding/binary"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/runtime/nsenter"
)

// record is one decoded record of the init's config (init.h's format).
type record struct {
	tag int
	val []byte
}

func decodeRecords(t *testing.T, b []byte) []record {
	t.Helper()
	var out []record
	for len(b) > 0 {
		if len(b) < 6 {
			t.Fatalf("truncated record header: % x", b)
		}
		tag := int(binary.LittleEndian.Uint16(b))
		n := int(binary.LittleEndian.Uint32(b[2:]))
		if len(b) < 6+n {
			t.Fatalf("record %d: %d bytes announced, %d left", tag, n, len(b)-6)
		}
		out = append(out, record{tag, b[6 : 6+n]})
		b = b[6+n:]
	}
	return out
}

func find(rs []record, tag int) []record {
	var out []record
	for _, r := range rs {
		if r.tag == tag {
			out = append(out, r)
		}
	}
	return out
}

func intOf(r record) int64 { return int64(binary.LittleEndian.Uint64(r.val)) }

func TestInitConfigEncode(t *testing.T) {
	spec := &specs.Spec{
		Process: &specs.Process{
			Args: []string{"sh"}, Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_KILL"}},
		},
		Root: &specs.Root{Path: "/b/rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/data", Type: "bind", Source: "data", Options: []string{"ro", "rprivate"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/dev", Type: "bind", Source: "/dev"}, // not the first /dev: devices still made
		},
		Linux: &specs.Linux{
			Devices: []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}},
			Sysctl:  map[string]string{"net.b": "2", "net.a": "1"},
		},
	}
	cfg := &initConfig{
		Kind: initStandard, ID: "c1", Spec: spec, Process: spec.Process, Rootfs: "/b/rootfs",
		FifoFd: 5, ConsoleFd: -1, SeccompListenerFd: -1,
		State: &specs.State{ID: "c1", Bundle: "/b"},
	}
	data, err := cfg.encode()
	if err != nil {
		t.Fatal(err)
	}
	rs := decodeRecords(t, data)

	mounts := find(rs, nsenter.TMount)
	if len(mounts) != 3 {
		t.Fatalf("%d mount records, want 3", len(mounts))
	}
	bind := decodeRecords(t, mounts[0].val)
	if src := string(find(bind, nsenter.MSource)[0].val); src != "/b/data" {
		t.Errorf("bind source %q, want it made absolute under the bundle: /b/data", src)
	}
	if f := intOf(find(bind, nsenter.MFlags)[0]); f&unix.MS_BIND == 0 || f&unix.MS_RDONLY == 0 {
		t.Errorf("bind flags %#x, want MS_BIND|MS_RDONLY", f)
	}
	if p := find(bind, nsenter.MPropagation); len(p) != 1 || intOf(p[0]) != unix.MS_PRIVATE|unix.MS_REC {
		t.Errorf("bind propagation %v, want rprivate", p)
	}

	if hb := find(rs, nsenter.TDevHostBind); len(hb) != 0 {
		t.Errorf("the first /dev mount is a tmpfs: no host /dev, yet dev-host-bind is sent")
	}
	devs := find(rs, nsenter.TDevice)
	if len(devs) != len(defaultDevices)+1 {
		t.Fatalf("%d devices, want the %d defaults and the spec's one", len(devs), len(defaultDevices))
	}
	last := decodeRecords(t, devs[len(devs)-1].val)
	if string(find(last, nsenter.DPath)[0].val) != "/dev/fuse" || intOf(find(last, nsenter.DMode)[0]) != 0o666 ||
		intOf(find(last, nsenter.DUID)[0]) != -1 {
		t.Errorf("spec device record %v, want /dev/fuse, mode 0666, uid -1", last)
	}

	if m := intOf(find(rs, nsenter.TCapBounding)[0]); m != 1<<unix.CAP_CHOWN|1<<unix.CAP_KILL {
		t.Errorf("bounding mask %#x, want CHOWN|KILL", m)
	}
	var keys []string
	for _, s := range find(rs, nsenter.TSysctl) {
		keys = append(keys, string(find(decodeRecords(t, s.val), nsenter.SKey)[0].val))
	}
	if len(keys) != 2 || keys[0] != "net.a" || keys[1] != "net.b" {
		t.Errorf("sysctl keys %v, want [net.a net.b] in order", keys)
	}
	if len(find(rs, nsenter.TStateCreated)) != 0 || len(find(rs, nsenter.TStateRunning)) != 0 {
		t.Errorf("hook states sent without hooks")
	}
	if p := find(rs, nsenter.TRootPropagation); len(p) != 1 || intOf(p[0]) != unix.MS_SLAVE|unix.MS_REC {
		t.Errorf("root propagation %v, want rslave by default", p)
	}
	if len(find(rs, nsenter.TRootPropagationEnd)) != 0 {
		t.Errorf("a final root propagation sent though the spec has none")
	}
}

func TestInitConfigEncodeRefusesUnknownNames(t *testing.T) {
	base := func() *initConfig {
		spec := &specs.Spec{Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"}, Root: &specs.Root{Path: "/r"}, Linux: &specs.Linux{}}
		return &initConfig{Kind: initStandard, ID: "c", Spec: spec, Process: spec.Process, State: &specs.State{}, SeccompListenerFd: -1}
	}
	cases := map[string]func(*initConfig){
		"personality": func(c *initConfig) { c.Spec.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX99"} },
		"ioPriority":  func(c *initConfig) { c.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_NOPE"} },
		"scheduler":   func(c *initConfig) { c.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_NOPE"} },
		"rlimit":      func(c *initConfig) { c.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOPE"}} },
	}
	for name, mutate := range cases {
		c := base()
		mutate(c)
		if _, err := c.encode(); err == nil {
			t.Errorf("%s: an unknown name was encoded", name)
		}
	}
}
