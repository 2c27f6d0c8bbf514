package bpf

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

var allowAll = Instructions{MovImm(R0, 1), Exit()}

func TestRealLoadVerifierLog(t *testing.T) {
	needRoot(t)
	p, err := LoadProgram(ProgramSpec{Name: "hutch_test", Type: unix.BPF_PROG_TYPE_CGROUP_DEVICE, License: "Apache", Insns: allowAll})
	if err != nil {
		t.Fatal(err)
	}
	if p.FD() < 0 {
		t.Errorf("fd %d", p.FD())
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}

	// R0 is never set: the verifier refuses and says why.
	_, err = LoadProgram(ProgramSpec{Name: "hutch_bad", Type: unix.BPF_PROG_TYPE_CGROUP_DEVICE, License: "Apache", Insns: Instructions{Exit()}})
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "verifier log:") || !strings.Contains(err.Error(), "R0 !read_ok") {
		t.Errorf("loading a program that never sets R0: %v; want EACCES with the verifier log", err)
	}
	t.Logf("the error: %v", err)
	// A read outside struct bpf_cgroup_dev_ctx (12 bytes).
	_, err = LoadProgram(ProgramSpec{Name: "hutch_bad", Type: unix.BPF_PROG_TYPE_CGROUP_DEVICE, License: "Apache",
		Insns: Instructions{LoadMem32(R2, R1, 12), MovImm(R0, 1), Exit()}})
	if err == nil || !strings.Contains(err.Error(), "invalid bpf_context access") {
		t.Errorf("loading a program reading past the context: %v", err)
	}
}

func TestRealAttachQueryDetach(t *testing.T) {
	needRoot(t)
	var root string
	for _, d := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if _, err := os.Stat(filepath.Join(d, "cgroup.controllers")); err == nil {
			root = d
			break
		}
	}
	if root == "" {
		t.Skip("no cgroup2 mount")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	dir := filepath.Join(root, "hutch-test-"+hex.EncodeToString(b))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	if ids, err := Query(fd, unix.BPF_CGROUP_DEVICE); err != nil || len(ids) != 0 {
		t.Fatalf("Query on a new cgroup = %v, %v", ids, err)
	}
	var progs []*Program
	for range 3 {
		p, err := LoadProgram(ProgramSpec{Name: "hutch_test", Type: unix.BPF_PROG_TYPE_CGROUP_DEVICE, License: "Apache", Insns: allowAll})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := Attach(fd, p, unix.BPF_CGROUP_DEVICE, unix.BPF_F_ALLOW_MULTI); err != nil {
			t.Fatal(err)
		}
		progs = append(progs, p)
	}
	ids, err := Query(fd, unix.BPF_CGROUP_DEVICE)
	if err != nil || len(ids) != 3 {
		t.Fatalf("Query = %v, %v; want 3 programs", ids, err)
	}
	// Detach two of them by ID, as the device filter's update does.
	for _, id := range ids[:2] {
		p, err := ProgramFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := Detach(fd, p, unix.BPF_CGROUP_DEVICE); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	left, err := Query(fd, unix.BPF_CGROUP_DEVICE)
	if err != nil || len(left) != 1 || slices.Contains(ids[:2], left[0]) {
		t.Fatalf("Query after detaching %v = %v, %v", ids[:2], left, err)
	}
	if err := Detach(fd, progs[0], unix.BPF_CGROUP_DEVICE); !errors.Is(err, unix.ENOENT) {
		t.Errorf("detaching a program no longer attached: %v, want ENOENT", err)
	}
	if _, err := ProgramFromID(0xfffffff0); !errors.Is(err, unix.ENOENT) {
		t.Errorf("ProgramFromID(unknown) = %v, want ENOENT", err)
	}
}
