package integration

import (
	"os"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

const (
	usernsHostID = 100000
	usernsSize   = 65536
)

func TestUsernsMappedRoot(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "id; cat /proc/self/uid_map; cat /proc/self/gid_map; readlink /proc/self/ns/user; touch /tmp/made-inside; mkdir /made-dir",
		testbundle.WithUserNamespace(usernsHostID, usernsSize), testbundle.WithWritableRootfs())
	id := newID(t)
	out := r.output(b, id)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("output:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], "uid=0(root) gid=0(root)") {
		t.Errorf("id inside = %q, want root", lines[0])
	}
	for i, which := range []string{"uid_map", "gid_map"} {
		if f := strings.Fields(lines[1+i]); len(f) != 3 || f[0] != "0" || f[1] != "100000" || f[2] != "65536" {
			t.Errorf("%s = %q, want 0 100000 65536", which, lines[1+i])
		}
	}
	if lines[3] == hostNS(t, "user") {
		t.Errorf("the container shares the host's user namespace")
	}
	for path, want := range map[string]uint32{"/tmp/made-inside": usernsHostID, "/made-dir": usernsHostID} {
		fi, err := os.Stat(b.Path(path))
		if err != nil {
			t.Errorf("file made inside: %v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != want || st.Gid != want {
			t.Errorf("%s made inside is owned by %d:%d on the host, want %d:%d", path, st.Uid, st.Gid, want, want)
		}
	}
}

// TestUsernsNoHostPrivilege: the mapped root cannot act on the host's
// objects (a file of host root bind-mounted in stays unwritable).
func TestUsernsNoHostPrivilege(t *testing.T) {
	r := newRuntime(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.WriteFile(dir+"/hostfile", []byte("host\n"), 0o644)
	b := shBundle(t, "cat /mnt/host/hostfile; echo evil > /mnt/host/hostfile && echo WROTE; cat /proc/self/status | grep CapEff",
		testbundle.WithUserNamespace(usernsHostID, usernsSize),
		testbundle.WithMount(specs.Mount{Destination: "/mnt/host", Type: "bind", Source: dir, Options: []string{"bind"}}))
	res := r.runContainer(b, newID(t))
	if strings.Contains(res.Stdout, "WROTE") {
		t.Errorf("the mapped root wrote to a host root's file:\n%s", res.Stdout)
	}
	if data, _ := os.ReadFile(dir + "/hostfile"); string(data) != "host\n" {
		t.Errorf("host file changed to %q", data)
	}
}

// TestUsernsRefusedMapping: overlapping uid ranges are refused by the
// kernel; the runtime says which field and leaves nothing.
func TestUsernsRefusedMapping(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "true", testbundle.WithUserNamespace(usernsHostID, usernsSize),
		testbundle.WithSpec(func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{
				{ContainerID: 0, HostID: 100000, Size: 1000},
				{ContainerID: 500, HostID: 200000, Size: 1000},
			}
		}))
	id := newID(t)
	res := r.tryCreate(b, id)
	assertOneLineError(t, res, "uidMappings")
	r.assertNothingLeft(id)

	res = r.runContainer(b, id)
	assertOneLineError(t, res, "uidMappings")
	r.assertNothingLeft(id)
}
