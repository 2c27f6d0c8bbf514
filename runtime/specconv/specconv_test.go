package specconv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

func validSpec(t *testing.T) *specs.Spec {
	t.Helper()
	return &specs.Spec{
		Root:    &specs.Root{Path: t.TempDir()},
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
		}},
	}
}

func TestValidateAcceptsAValidSpec(t *testing.T) {
	if err := Validate(validSpec(t)); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name   string
		change func(*specs.Spec)
		want   string
	}{
		{"missing root", func(s *specs.Spec) { s.Root.Path = "/nonexistent-hutch" }, `root.path "/nonexistent-hutch"`},
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process is required"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, `process.cwd "tmp"`},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, `linux.namespaces[5].type "bogus"`},
		{"namespace twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "listed twice"},
		{"missing namespace path", func(s *specs.Spec) {
			s.Linux.Namespaces[0].Path = "/proc/self/ns/nothing"
		}, `linux.namespaces[0].path`},
		{"uid map without userns", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, "linux.uidMappings"},
		{"userns without maps", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "linux.uidMappings and linux.gidMappings are required"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Hostname = "box"
			s.Linux.Namespaces = s.Linux.Namespaces[:2]
		}, `hostname "box"`},
		{"mount with dotdot", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/a/../../etc", Type: "tmpfs"}}
		}, `mounts[0].destination "/a/../../etc"`},
		{"bad device type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}}
		}, `linux.devices[0].type "z"`},
		{"unknown rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}}
		}, `process.rlimits[0].type "RLIMIT_BOGUS"`},
		{"soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}}
		}, "soft limit 10 is above the hard limit 5"},
		{"unknown capability", func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_TEST"}}
		}, `process.capabilities.bounding: unknown capability "CAP_TEST"`},
		{"host sysctl", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"}
		}, `linux.sysctl "vm.swappiness": not namespaced`},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
			s.Linux.Namespaces = s.Linux.Namespaces[:3]
		}, `linux.sysctl "net.ipv4.ip_forward": needs a network namespace`},
		{"relative hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "rm"}}}
		}, `hooks.poststop[0].path "rm"`},
		{"bad propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, `linux.rootfsPropagation "sideways"`},
		{"time offsets without timens", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec(t)
			c.change(s)
			err := Validate(s)
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %q is not an invalid argument", err)
			}
		})
	}
}

func TestLoadBundle(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rootfs"), 0o755)
	if _, err := LoadBundle(dir); !errdefs.IsNotFound(err) {
		t.Errorf("no config.json: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{bad"), 0o644)
	if _, err := LoadBundle(dir); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("bad JSON: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"root":{"path":"rootfs"},"process":{"args":["true"],"cwd":"/"},"linux":{}}`), 0o644)
	s, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root.Path != filepath.Join(dir, "rootfs") {
		t.Errorf("root.path %q not made absolute", s.Root.Path)
	}
}

func TestParseMountOptions(t *testing.T) {
	mo := ParseMountOptions([]string{"rbind", "ro", "nosuid", "rprivate", "rnoexec", "tmpcopyup", "size=1m", "mode=755"})
	if !mo.Bind || !mo.Recursive || !mo.CopyUp {
		t.Errorf("bind/recursive/copyup: %+v", mo)
	}
	if mo.Flags&(unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_BIND|unix.MS_REC) != unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_BIND|unix.MS_REC {
		t.Errorf("flags %#x", mo.Flags)
	}
	if len(mo.Propagation) != 1 || mo.Propagation[0] != unix.MS_PRIVATE|unix.MS_REC {
		t.Errorf("propagation %v", mo.Propagation)
	}
	if mo.AttrSet != unix.MOUNT_ATTR_NOEXEC {
		t.Errorf("recursive attrs %#x", mo.AttrSet)
	}
	if mo.Data != "size=1m,mode=755" {
		t.Errorf("data %q", mo.Data)
	}
	if mo := ParseMountOptions([]string{"ro", "rw"}); mo.Flags&unix.MS_RDONLY != 0 {
		t.Errorf("rw after ro must clear it")
	}
}
