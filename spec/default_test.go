package spec

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// roundTrip passes s through JSON so that nil and empty slices compare equal
// the way they would in a config.json.
func roundTrip(t *testing.T, s *specs.Spec) *specs.Spec {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out specs.Spec
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func diffJSON(t *testing.T, want, got *specs.Spec) {
	t.Helper()
	w, _ := json.MarshalIndent(want, "", "  ")
	g, _ := json.MarshalIndent(got, "", "  ")
	t.Errorf("specs differ\nwant:\n%s\ngot:\n%s", w, g)
}

// testdata/default.json is the reviewed expectation: runc 1.3's example config
// with ociVersion 1.3.0 and the cgroup namespace always present.
func TestDefaultGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/default.json")
	if err != nil {
		t.Fatal(err)
	}
	var want specs.Spec
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got := roundTrip(t, Default())
	if !reflect.DeepEqual(&want, got) {
		diffJSON(t, &want, got)
	}
}

func TestDefaultFields(t *testing.T) {
	s := Default()
	if s.Version != "1.3.0" {
		t.Errorf("ociVersion = %q, want 1.3.0", s.Version)
	}
	p := s.Process
	if !p.Terminal || !slices.Equal(p.Args, []string{"sh"}) || p.Cwd != "/" || !p.NoNewPrivileges {
		t.Errorf("process = %+v", p)
	}
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	for name, set := range map[string][]string{
		"bounding": p.Capabilities.Bounding, "effective": p.Capabilities.Effective, "permitted": p.Capabilities.Permitted,
	} {
		if !slices.Equal(set, caps) {
			t.Errorf("%s caps = %v", name, set)
		}
	}
	if len(p.Capabilities.Ambient) != 0 || len(p.Capabilities.Inheritable) != 0 {
		t.Errorf("ambient/inheritable caps set: %+v", p.Capabilities)
	}
	if len(p.Rlimits) != 1 || p.Rlimits[0] != (specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}) {
		t.Errorf("rlimits = %v", p.Rlimits)
	}
	var dests []string
	for _, m := range s.Mounts {
		dests = append(dests, m.Destination)
	}
	if want := []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}; !slices.Equal(dests, want) {
		t.Errorf("mounts = %v, want %v", dests, want)
	}
	var nss []specs.LinuxNamespaceType
	for _, ns := range s.Linux.Namespaces {
		nss = append(nss, ns.Type)
		if ns.Path != "" {
			t.Errorf("namespace %s has a path", ns.Type)
		}
	}
	if want := []specs.LinuxNamespaceType{"pid", "network", "ipc", "uts", "mount", "cgroup"}; !slices.Equal(nss, want) {
		t.Errorf("namespaces = %v, want %v", nss, want)
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
}

// Default must not share slices between calls or between capability sets:
// callers edit the spec they get.
func TestDefaultIndependent(t *testing.T) {
	a, b := Default(), Default()
	a.Process.Capabilities.Bounding[0] = "CAP_SYS_ADMIN"
	a.Mounts[0].Options = append(a.Mounts[0].Options, "ro")
	if a.Process.Capabilities.Effective[0] != "CAP_AUDIT_WRITE" || b.Process.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" {
		t.Error("capability slices are shared")
	}
	if len(b.Mounts[0].Options) != 0 {
		t.Error("mount options are shared")
	}
}

func TestRootless(t *testing.T) {
	s := Default()
	Rootless(s)
	var nss []specs.LinuxNamespaceType
	for _, ns := range s.Linux.Namespaces {
		nss = append(nss, ns.Type)
	}
	if want := []specs.LinuxNamespaceType{"pid", "ipc", "uts", "mount", "cgroup", "user"}; !slices.Equal(nss, want) {
		t.Errorf("namespaces = %v, want %v", nss, want)
	}
	wantUID := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}}
	wantGID := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}}
	if !reflect.DeepEqual(s.Linux.UIDMappings, wantUID) || !reflect.DeepEqual(s.Linux.GIDMappings, wantGID) {
		t.Errorf("mappings uid %v gid %v", s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	if s.Linux.Resources != nil {
		t.Errorf("resources = %+v, want nil", s.Linux.Resources)
	}
	for _, m := range s.Mounts {
		for _, o := range m.Options {
			if len(o) > 4 && (o[:4] == "uid=" || o[:4] == "gid=") {
				t.Errorf("mount %s keeps option %s", m.Destination, o)
			}
		}
		if m.Destination == "/sys" {
			want := specs.Mount{Destination: "/sys", Type: "none", Source: "/sys",
				Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("/sys mount = %+v", m)
			}
		}
	}
	// Applying it twice changes nothing more.
	again := roundTrip(t, s)
	Rootless(again)
	if !reflect.DeepEqual(roundTrip(t, s), roundTrip(t, again)) {
		diffJSON(t, s, again)
	}
}

// runcSpec runs the installed runc's `spec` and normalises the differences
// that are known and intended: the ociVersion, the ambient set (runc before
// 1.2 filled it), /sys/devices/virtual/tpm (masked since runc 1.2) and the
// cgroup namespace (runc adds it only on cgroup v2 hosts).
func runcSpec(t *testing.T, args ...string) *specs.Spec {
	t.Helper()
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed")
	}
	dir := t.TempDir()
	cmd := exec.Command(runc, append([]string{"spec"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Version = specs.Version
	s.Process.Capabilities.Ambient = nil
	if !slices.Contains(s.Linux.MaskedPaths, "/sys/devices/virtual/tpm") {
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/sys/devices/virtual/tpm")
	}
	hasCgroupNS := slices.ContainsFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
		return ns.Type == specs.CgroupNamespace
	})
	if !hasCgroupNS {
		// runc appends it after the other namespaces, and for --rootless
		// the user namespace comes last.
		i := len(s.Linux.Namespaces)
		if n := i - 1; n >= 0 && s.Linux.Namespaces[n].Type == specs.UserNamespace {
			i = n
		}
		s.Linux.Namespaces = slices.Insert(s.Linux.Namespaces, i, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return roundTrip(t, &s)
}

func TestDefaultMatchesRunc(t *testing.T) {
	want := runcSpec(t)
	if got := roundTrip(t, Default()); !reflect.DeepEqual(want, got) {
		diffJSON(t, want, got)
	}
}

func TestRootlessMatchesRunc(t *testing.T) {
	want := runcSpec(t, "--rootless")
	s := Default()
	Rootless(s)
	if got := roundTrip(t, s); !reflect.DeepEqual(want, got) {
		diffJSON(t, want, got)
	}
}
