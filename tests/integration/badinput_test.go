package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

// TestBadInput: each malformed bundle or id fails create and run with a
// non-zero exit, one line naming the field or object, and nothing left
// behind: no state dir, no cgroup named after the id, no process.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(b *testbundle.Bundle)
		want  []string
	}{
		{"config not JSON", func(b *testbundle.Bundle) {
			os.WriteFile(filepath.Join(b.Dir, "config.json"), []byte("{\"ociVersion\": \"1.2.0\", \"process\": "), 0o644)
		}, []string{"config.json"}},
		{"config missing", func(b *testbundle.Bundle) {
			os.Remove(filepath.Join(b.Dir, "config.json"))
		}, []string{"config.json"}},
		{"root.path missing", func(b *testbundle.Bundle) {
			b.Spec.Root.Path = "no-such-rootfs"
			b.Save()
		}, []string{"root.path", "no-such-rootfs"}},
		{"unknown namespace", func(b *testbundle.Bundle) {
			b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			b.Save()
		}, []string{"bogus", "namespaces"}},
		{"namespace path missing", func(b *testbundle.Bundle) {
			testbundle.WithNamespace(specs.NetworkNamespace, "/proc/self/ns/no-such-ns")(b)
			b.Save()
		}, []string{"/proc/self/ns/no-such-ns"}},
		{"mount destination with dotdot", func(b *testbundle.Bundle) {
			b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/tmp/../../etc", Type: "tmpfs", Source: "tmpfs"})
			b.Save()
		}, []string{"/tmp/../../etc"}},
		{"mount source missing", func(b *testbundle.Bundle) {
			b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/mnt/x", Type: "bind", Source: "/no/such/source", Options: []string{"bind"}})
			b.Save()
		}, []string{"/no/such/source"}},
		{"uid map refused", func(b *testbundle.Bundle) {
			testbundle.WithUserNamespace(usernsHostID, usernsSize)(b)
			b.Spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}, {ContainerID: 10, HostID: 300000, Size: 10}}
			b.Save()
		}, []string{"uidMappings"}},
		{"process missing", func(b *testbundle.Bundle) {
			b.Spec.Process = nil
			b.Save()
		}, []string{"process"}},
		{"args empty", func(b *testbundle.Bundle) {
			b.Spec.Process.Args = nil
			b.Save()
		}, []string{"args"}},
		{"executable missing", func(b *testbundle.Bundle) {
			b.Spec.Process.Args = []string{"/no/such/binary"}
			b.Save()
		}, []string{"/no/such/binary"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t)
			b := shBundle(t, "echo RAN")
			tc.setup(b)
			id := newID(t)
			res := r.tryCreate(b, id)
			assertOneLineError(t, res, tc.want...)
			r.assertNothingLeft(id)
			res = r.runContainer(b, id)
			assertOneLineError(t, res, tc.want...)
			if strings.Contains(res.Stdout, "RAN") {
				t.Errorf("the process ran")
			}
			r.assertNothingLeft(id)
		})
	}
}

func TestBadInputIDInUse(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000")
	id := newID(t)
	pid := r.startDetached(b, id)
	for _, verb := range []string{"create", "run"} {
		res := r.runFiles(id+"-"+verb, verb, "--bundle", b.Dir, id)
		assertOneLineError(t, res, id, "already exists")
	}
	if st := r.state(id); st.Status != "running" || st.Pid != pid {
		t.Errorf("the first container after two refused creates: %+v", st)
	}
	if pids := waitProcs(t, r, id, 1); len(pids) != 1 {
		t.Errorf("processes in the container after refused creates: %v", pids)
	}
}

func TestBadInputIDs(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "echo RAN")
	for _, id := range []string{"a/b", "../escape", "..", ".", "with space", ""} {
		t.Run(id, func(t *testing.T) {
			res := r.runFiles("bad-id", "create", "--bundle", b.Dir, id)
			want := []string{}
			if id != "" {
				want = append(want, id)
			}
			assertOneLineError(t, res, want...)
			if !strings.Contains(res.Stderr, "id") {
				t.Errorf("error does not say the container id is at fault: %q", res.Stderr)
			}
			if entries, _ := os.ReadDir(r.root); len(entries) > 0 {
				for _, e := range entries {
					if !strings.HasPrefix(e.Name(), ".") {
						t.Errorf("state root holds %s after a refused id %q", e.Name(), id)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(r.root), "escape")); err == nil {
				t.Errorf("a state dir was made outside the root")
			}
			for _, verb := range [][]string{{"state", id}, {"delete", id}, {"kill", id, "KILL"}, {"start", id}} {
				if id == "" {
					continue
				}
				res := r.run(verb...)
				if res.Code == 0 {
					t.Errorf("%v with a bad id succeeded", verb)
				}
			}
		})
	}
}
