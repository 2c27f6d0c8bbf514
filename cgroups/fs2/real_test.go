package fs2

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
)

// unifiedRoot finds a real cgroup2 mount: /sys/fs/cgroup on pure v2, the
// hybrid layout's /sys/fs/cgroup/unified otherwise.
func unifiedRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, d := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if cgfs.Exists(d, "cgroup.controllers") {
			return d
		}
	}
	t.Skip("no cgroup2 mount")
	return ""
}

// TestRealUnified drives a real v2 cgroup: the eBPF device filter, the
// freezer, hugetlb where the hierarchy offers it, and Destroy. On the
// hybrid test machine it runs on /sys/fs/cgroup/unified, where the device
// program and cgroup.freeze work whatever controllers v1 holds.
func TestRealUnified(t *testing.T) {
	root := unifiedRoot(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	dir := filepath.Join(root, "hutch-test-"+hex.EncodeToString(b))
	avail, _ := cgfs.Read(root, "cgroup.controllers")
	owned := []string{Devices, Freezer}
	hugetlb := slices.Contains(strings.Fields(avail), "hugetlb") && cgfs.Exists("/sys/kernel/mm/hugepages", "hugepages-2048kB")
	if hugetlb {
		owned = append(owned, "hugetlb")
		// Leave the root's subtree_control as it was found.
		before, _ := cgfs.Read(root, "cgroup.subtree_control")
		if !slices.Contains(strings.Fields(before), "hugetlb") {
			t.Cleanup(func() { _ = cgfs.Write(root, "cgroup.subtree_control", "-hugetlb") })
		}
	}
	m, err := New(dir, root, owned, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Thaw(); _ = m.Destroy() })

	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(1), Minor: ptr(3), Access: "rwm"}, // /dev/null
	}}
	if hugetlb {
		r.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	if hugetlb {
		if got, _ := cgfs.Read(dir, "hugetlb.2MB.max"); got != "4194304" {
			t.Errorf("hugetlb.2MB.max = %q", got)
		}
	}
	// Replacing the program on a live update must work too.
	if err := m.Set(r); err != nil {
		t.Fatalf("second Set (program replaced): %v", err)
	}

	cmd := exec.Command("sh", "-c", `read x; cat /dev/null && echo null-ok; (: </dev/zero) 2>/dev/null || echo zero-denied; read y`)
	var out strings.Builder
	cmd.Stdout = &out
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}

	// The shell now blocks on its second read: freeze it there.
	if err := cgfs.WaitFor("device checks", 10e9, func() (bool, error) {
		return strings.Contains(out.String(), "zero-denied") || strings.Count(out.String(), "\n") >= 2, nil
	}); err != nil {
		t.Fatalf("%v; output %q", err, out.String())
	}
	if got := out.String(); got != "null-ok\nzero-denied\n" {
		t.Errorf("device filter: output %q, want /dev/null allowed and /dev/zero denied", got)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Errorf("Frozen() = %v, %v", f, err)
	}
	if pids, _ := m.Pids(); !slices.Contains(pids, cmd.Process.Pid) {
		t.Errorf("Pids() = %v, want %d", pids, cmd.Process.Pid)
	}
	// SIGKILL reaches a frozen v2 task; Destroy thaws anyway and removes.
	_ = cmd.Process.Kill()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there: %v", dir, err)
	}
}
