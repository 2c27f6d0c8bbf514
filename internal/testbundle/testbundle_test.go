package testbundle

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestNewLayout(t *testing.T) {
	b := New(t)
	for _, p := range []string{"bin/busybox", "bin/sh", "bin/ls", "sbin/ip", "usr/bin/env", "etc/passwd", "etc/group"} {
		if _, err := os.Lstat(filepath.Join(b.Rootfs, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	if l, err := os.Readlink(b.Path("/bin/sh")); err != nil || l != "/bin/busybox" {
		t.Errorf("/bin/sh -> %q, %v", l, err)
	}
	fi, err := os.Lstat(b.Path("/bin/busybox"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("/bin/busybox: %v %v", fi, err)
	}
	for _, d := range []string{"/tmp", "/proc", "/sys", "/dev"} {
		if fi, err := os.Stat(b.Path(d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	if fi, _ := os.Stat(b.Path("/tmp")); fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("/tmp mode %v", fi.Mode())
	}
	if pw := b.ReadFile("/etc/passwd"); !strings.Contains(pw, "test:x:1000:1000:") || !strings.Contains(pw, "nobody:x:65534:") {
		t.Errorf("passwd:\n%s", pw)
	}
	for _, d := range []string{b.Dir, b.Rootfs} {
		if fi, _ := os.Stat(d); fi.Mode().Perm() != 0o755 {
			t.Errorf("%s mode %v, want 0755", d, fi.Mode().Perm())
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	b := New(t)
	var s specs.Spec
	data, err := os.ReadFile(filepath.Join(b.Dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Process.Terminal {
		t.Error("terminal is true")
	}
	if s.Root.Path != "rootfs" || s.Version != "1.3.0" {
		t.Errorf("root %q version %q", s.Root.Path, s.Version)
	}
}

func TestOptionsAndSave(t *testing.T) {
	b := New(t,
		WithArgs("echo", "hi"),
		WithTerminal(),
		WithEnv("FOO=1", "TERM=dumb"),
		WithoutNamespace(specs.NetworkNamespace),
		WithHostname("box"),
		WithWritableRootfs(),
		WithFile("/etc/motd", "hello\n", 0o600),
		WithSpec(func(s *specs.Spec) { s.Process.Cwd = "/tmp" }),
	)
	read := func() specs.Spec {
		var s specs.Spec
		data, err := os.ReadFile(filepath.Join(b.Dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := read()
	if !slices.Equal(s.Process.Args, []string{"echo", "hi"}) || !s.Process.Terminal || s.Hostname != "box" ||
		s.Root.Readonly || s.Process.Cwd != "/tmp" {
		t.Errorf("process %+v hostname %q root %+v", s.Process, s.Hostname, s.Root)
	}
	if want := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FOO=1", "TERM=dumb"}; !slices.Equal(s.Process.Env, want) {
		t.Errorf("env = %v, want %v", s.Process.Env, want)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Error("network namespace not removed")
		}
	}
	if fi, err := os.Stat(b.Path("/etc/motd")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("/etc/motd: %v %v", fi, err)
	}
	b.Spec.Process.Args = []string{"true"}
	b.Save()
	if s := read(); !slices.Equal(s.Process.Args, []string{"true"}) {
		t.Errorf("after Save args = %v", s.Process.Args)
	}
}

// Each bundle has its own copy of every file: a container that writes to its
// busybox must not change another's.
func TestCopiesAreIndependent(t *testing.T) {
	a, b := New(t), New(t)
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(a.Path("/bin/busybox"), &sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(b.Path("/bin/busybox"), &sb); err != nil {
		t.Fatal(err)
	}
	if sa.Ino == sb.Ino || sa.Nlink != 1 {
		t.Errorf("busybox shared: inodes %d %d, nlink %d", sa.Ino, sb.Ino, sa.Nlink)
	}
	a.WriteFile("/etc/passwd", "x\n", 0o644)
	if b.ReadFile("/etc/passwd") == "x\n" {
		t.Error("writing one bundle changed another")
	}
}

func TestUserNamespaceOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	b := New(t, WithUserNamespace(100000, 65536))
	var st syscall.Stat_t
	if err := syscall.Lstat(b.Path("/home/test"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 101000 || st.Gid != 101000 {
		t.Errorf("/home/test owned by %d:%d, want 101000:101000", st.Uid, st.Gid)
	}
	if len(b.Spec.Linux.UIDMappings) != 1 || b.Spec.Linux.UIDMappings[0].HostID != 100000 {
		t.Errorf("uid mappings %v", b.Spec.Linux.UIDMappings)
	}
}

func TestCleanup(t *testing.T) {
	var dir string
	t.Run("sub", func(t *testing.T) { dir = New(t).Dir })
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists: %v", dir, err)
	}
}

// The applets work: run the rootfs's shell chrooted (root only).
func TestBusyboxRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	b := New(t)
	out, err := exec.Command("chroot", b.Rootfs, "/bin/sh", "-c", "id -un; ls /usr/bin | wc -l; id -un test").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 3 || lines[0] != "root" || lines[1] == "0" || lines[2] != "test" {
		t.Errorf("output %q", out)
	}
}

// A real runtime runs the bundle (runc from Debian, when installed).
func TestRuncRunsBundle(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and runc")
	}
	b := New(t, WithArgs("sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '"))
	root := t.TempDir()
	id := fmt.Sprintf("testbundle-%d", os.Getpid())
	cmd := exec.Command(runc, "--root", root, "run", "--bundle", b.Dir, id)
	out, err := cmd.CombinedOutput()
	if err != nil {
		exec.Command(runc, "--root", root, "delete", "--force", id).Run()
		t.Fatalf("runc run: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "runc\nsh -c hostname; cat /proc/1/cmdline | tr '\\0' ' '" {
		t.Errorf("output %q", got)
	}
}

func TestIsStatic(t *testing.T) {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Skip(err)
	}
	if !isStatic(bb) {
		t.Error("busybox reported dynamic")
	}
	sh, err := os.ReadFile("/bin/bash")
	if err != nil {
		t.Skip(err)
	}
	if isStatic(sh) {
		t.Error("bash reported static")
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		New(b)
	}
}
