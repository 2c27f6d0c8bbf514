package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/internal/testbundle"
)

// hostDir makes a directory on the host, readable by everyone, holding the
// given files.
func hostDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hutch-it-host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func bindMount(src, dst string, opts ...string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append([]string{"bind"}, opts...)}
}

func TestMountsBindReadOnly(t *testing.T) {
	r := newRuntime(t)
	src := hostDir(t, map[string]string{"f": "hello\n"})
	b := shBundle(t, "cat /mnt/ro/f; if echo x > /mnt/ro/f; then echo WROTE; fi; if touch /mnt/ro/new; then echo CREATED; fi; echo x > /mnt/rw/g && echo rw-ok",
		testbundle.WithMount(bindMount(src, "/mnt/ro", "ro")),
		testbundle.WithMount(bindMount(src, "/mnt/rw")))
	res := r.runContainer(b, newID(t))
	if res.Stdout != "hello\nrw-ok\n" {
		t.Errorf("ro bind: stdout %q, want hello and rw-ok (a write through the ro mount must fail)\nstderr: %s", res.Stdout, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "Read-only file system") {
		t.Errorf("ro bind: stderr %q, want Read-only file system", res.Stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(src, "f")); string(data) != "hello\n" {
		t.Errorf("host file changed: %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(src, "g")); string(data) != "x\n" {
		t.Errorf("write through the rw bind: host sees %q", data)
	}
}

// TestMountsRbind: rbind carries the source's submounts, bind does not.
func TestMountsRbind(t *testing.T) {
	r := newRuntime(t)
	src := hostDir(t, nil)
	sub := filepath.Join(src, "sub")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	os.WriteFile(filepath.Join(sub, "in-submount"), []byte("x"), 0o644)

	b := shBundle(t, "ls /mnt/r/sub; echo --; ls /mnt/b/sub",
		testbundle.WithMount(specs.Mount{Destination: "/mnt/r", Type: "bind", Source: src, Options: []string{"rbind"}}),
		testbundle.WithMount(bindMount(src, "/mnt/b")))
	out := r.output(b, newID(t))
	if out != "in-submount\n--\n" {
		t.Errorf("rbind shows the submount, bind does not: got\n%s", out)
	}
}

func TestMountsTmpfsOptions(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "stat -c '%a' /mnt/t; grep ' /mnt/t ' /proc/self/mountinfo; cp /bin/busybox /mnt/t/bb && /mnt/t/bb true && echo EXECUTED",
		testbundle.WithMount(specs.Mount{Destination: "/mnt/t", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "noexec", "nodev", "size=4m", "mode=1770"}}))
	res := r.runContainer(b, newID(t))
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if len(lines) < 2 || lines[0] != "1770" {
		t.Fatalf("tmpfs mode: %v", res)
	}
	mi := lines[1]
	for _, want := range []string{"nosuid", "nodev", "noexec", "size=4096k", "tmpfs"} {
		if !strings.Contains(mi, want) {
			t.Errorf("tmpfs mountinfo %q lacks %s", mi, want)
		}
	}
	if strings.Contains(res.Stdout, "EXECUTED") {
		t.Errorf("a binary ran from a noexec tmpfs")
	}
}

// TestMountsSymlinkDestinationStaysInRoot: a mount destination that walks
// through a symbolic link in the rootfs pointing at a host path is resolved
// inside the rootfs, never on the host.
func TestMountsSymlinkDestinationStaysInRoot(t *testing.T) {
	r := newRuntime(t)
	for _, dangling := range []bool{false, true} {
		t.Run(fmt.Sprintf("dangling=%v", dangling), func(t *testing.T) {
			outside := hostDir(t, map[string]string{"host-file": "host\n"})
			src := hostDir(t, map[string]string{"marker": "mounted\n"})
			b := testbundle.New(t, testbundle.WithArgs("sh", "-c",
				"cat /evil/newdir/marker; cat /evil2/newdir2/marker; grep -c newdir /proc/self/mountinfo; ls "+outside))
			if err := os.Symlink(outside, b.Path("/evil")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../../../../../../../../.."+outside, b.Path("/evil2")); err != nil {
				t.Fatal(err)
			}
			if !dangling {
				// The same path exists inside the rootfs.
				if err := os.MkdirAll(filepath.Join(b.Rootfs, outside), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			b.Spec.Mounts = append(b.Spec.Mounts,
				bindMount(src, "/evil/newdir"),
				bindMount(src, "/evil2/newdir2"))
			b.Save()

			res := r.runContainer(b, newID(t))
			entries, _ := os.ReadDir(outside)
			if len(entries) != 1 || entries[0].Name() != "host-file" {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the host directory the symlink names was changed: %v", names)
			}
			if m := mountsUnder(outside); len(m) > 0 {
				t.Errorf("mounts on the host under %s: %v", outside, m)
			}
			if dangling && res.Code != 0 {
				// Refusing a dangling link is safe (runc would create
				// the directories inside the rootfs instead).
				t.Logf("dangling symlink destination refused: %s", strings.TrimSpace(res.Stderr))
				return
			}
			// Inside, the links resolve to <rootfs>/<outside>: the
			// mounts are there, and the host's file is not.
			if res.Code != 0 || res.Stdout != "mounted\nmounted\n2\nnewdir\nnewdir2\n" {
				t.Errorf("mount through a symlink: %v", res)
			}
			if _, err := os.Stat(filepath.Join(b.Rootfs, outside, "newdir")); err != nil {
				t.Errorf("mount point inside the rootfs: %v", err)
			}
		})
	}
}

// mountsUnder lists this mount namespace's mount points at or below dir.
func mountsUnder(dir string) []string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

func TestMountsMaskedAndReadonlyPaths(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, `cat /etc/secret; echo "masked-file:$?"; ls -A /secretdir; echo "masked-dir-entries:$(ls -A /secretdir | wc -l)"
if touch /rodir/new; then echo RO-WRITTEN; fi; cat /rodir/f
touch /rwdir/new && echo rw-ok
cat /proc/kcore >/dev/null 2>&1 || true; cat /proc/sys/kernel/hostname >/dev/null
if echo 1 > /proc/sys/kernel/domainname; then echo PROCSYS-WRITTEN; fi`,
		testbundle.WithWritableRootfs(),
		testbundle.WithFile("/etc/secret", "top secret\n", 0o644),
		testbundle.WithFile("/secretdir/a", "a\n", 0o644),
		testbundle.WithFile("/rodir/f", "readonly\n", 0o644),
		testbundle.WithFile("/rwdir/f", "rw\n", 0o644),
		testbundle.WithSpec(func(s *specs.Spec) {
			s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/etc/secret", "/secretdir", "/does/not/exist")
			s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/rodir", "/does/not/exist/either")
		}))
	res := r.runContainer(b, newID(t))
	out := res.Stdout
	if strings.Contains(out, "top secret") || !strings.Contains(out, "masked-file:0") {
		t.Errorf("masked file readable or missing:\n%s", out)
	}
	if !strings.Contains(out, "masked-dir-entries:0") {
		t.Errorf("masked dir shows entries:\n%s", out)
	}
	if strings.Contains(out, "RO-WRITTEN") || !strings.Contains(out, "readonly\n") {
		t.Errorf("readonly path writable or unreadable:\n%s", out)
	}
	if !strings.Contains(out, "rw-ok") {
		t.Errorf("the rest of the rootfs is not writable:\n%v", res)
	}
	if strings.Contains(out, "PROCSYS-WRITTEN") {
		t.Errorf("/proc/sys (a default readonly path) is writable")
	}
	if data, _ := os.ReadFile(b.Path("/etc/secret")); string(data) != "top secret\n" {
		t.Errorf("masking changed the file: %q", data)
	}
}

func TestMountsRootReadonly(t *testing.T) {
	r := newRuntime(t)
	script := "touch /newfile && echo WROTE; grep -E '^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / ' /proc/self/mountinfo"
	b := shBundle(t, script) // spec.Default has root.readonly true
	res := r.runContainer(b, newID(t))
	if strings.Contains(res.Stdout, "WROTE") || !strings.Contains(res.Stderr, "Read-only file system") {
		t.Errorf("root.readonly: a file was created or the error is not EROFS: %v", res)
	}
	if f := strings.Fields(res.Stdout); len(f) < 6 || !strings.HasPrefix(f[5], "ro") {
		t.Errorf("root mount options: %q, want ro", res.Stdout)
	}
	if _, err := os.Stat(b.Path("/newfile")); err == nil {
		t.Errorf("file created on a read-only root")
	}
	b2 := shBundle(t, script, testbundle.WithWritableRootfs())
	res = r.runContainer(b2, newID(t))
	if !strings.Contains(res.Stdout, "WROTE") {
		t.Errorf("writable root: %v", res)
	}
}

// TestMountsRootfsPropagation: the root mount's propagation shows in the
// optional fields of mountinfo (shared:N, or none for private).
//
// The runtime runs in a mount namespace of its own whose mounts are shared
// (unshare --propagation shared), as on a systemd host, so that "slave"
// has a master to show; this machine's own root mount is private.
func TestMountsRootfsPropagation(t *testing.T) {
	r := newRuntime(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare(1) from util-linux")
	}
	r.wrap = []string{"unshare", "-m", "--propagation", "shared", "--"}
	for _, tc := range []struct {
		prop, want, notWant string
	}{
		{"shared", "shared:", ""},
		{"private", "", "shared:"},
		{"slave", "master:", "shared:"},
	} {
		t.Run(tc.prop, func(t *testing.T) {
			b := shBundle(t, "grep -E '^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / ' /proc/self/mountinfo",
				testbundle.WithSpec(func(s *specs.Spec) { s.Linux.RootfsPropagation = tc.prop }))
			id := newID(t)
			out := r.output(b, id)
			f := strings.Fields(out)
			// Fields 7.. up to "-" are the optional ones.
			var opt []string
			for i := 6; i < len(f) && f[i] != "-"; i++ {
				opt = append(opt, f[i])
			}
			optional := strings.Join(opt, " ")
			if tc.want != "" && !strings.Contains(optional, tc.want) {
				t.Errorf("rootfsPropagation %s: root mount optional fields %q, want %s\n%s", tc.prop, optional, tc.want, out)
			}
			if tc.notWant != "" && strings.Contains(optional, tc.notWant) {
				t.Errorf("rootfsPropagation %s: root mount optional fields %q, must not have %s\n%s", tc.prop, optional, tc.notWant, out)
			}
		})
	}
}

func TestMountsDev(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, `for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done
for l in ptmx fd stdin stdout stderr; do echo "/dev/$l -> $(readlink /dev/$l)"; done
stat -c '%n %F' /dev/pts/ptmx /dev/shm /dev/mqueue
echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; if echo x > /dev/full; then echo FULL-WROTE; fi`)
	res := r.runContainer(b, newID(t))
	want := []string{
		"/dev/null character special file 1:3 666",
		"/dev/zero character special file 1:5 666",
		"/dev/full character special file 1:7 666",
		"/dev/random character special file 1:8 666",
		"/dev/urandom character special file 1:9 666",
		"/dev/tty character special file 5:0 666",
		"/dev/ptmx -> pts/ptmx",
		"/dev/fd -> /proc/self/fd",
		"/dev/stdin -> /proc/self/fd/0",
		"/dev/stdout -> /proc/self/fd/1",
		"/dev/stderr -> /proc/self/fd/2",
		"/dev/pts/ptmx character special file",
		"/dev/shm directory",
		"/dev/mqueue directory",
		"null-ok",
		"4",
	}
	got := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("/dev:\n%s\nwant:\n%s\nstderr: %s", res.Stdout, strings.Join(want, "\n"), res.Stderr)
	}
	if !strings.Contains(res.Stderr, "No space left on device") {
		t.Errorf("/dev/full: writing did not fail with ENOSPC: %q", res.Stderr)
	}
}

func TestMountsLinuxDevices(t *testing.T) {
	r := newRuntime(t)
	mode := os.FileMode(0o620)
	uid, gid := uint32(1000), uint32(100)
	b := shBundle(t, "stat -c '%n %F %t:%T %a %u %g' /dev/mynull /dev/sub/myzero; head -c 3 /dev/sub/myzero | wc -c",
		testbundle.WithSpec(func(s *specs.Spec) {
			s.Linux.Devices = append(s.Linux.Devices,
				specs.LinuxDevice{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid},
				specs.LinuxDevice{Path: "/dev/sub/myzero", Type: "c", Major: 1, Minor: 5})
			// The device cgroup: allow what the entries name.
			if s.Linux.Resources == nil {
				s.Linux.Resources = &specs.LinuxResources{}
			}
			one, three, five := int64(1), int64(3), int64(5)
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
				specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &one, Minor: &three, Access: "rwm"},
				specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &one, Minor: &five, Access: "rwm"})
		}))
	res := r.runContainer(b, newID(t))
	want := "/dev/mynull character special file 1:3 620 1000 100\n/dev/sub/myzero character special file 1:5 "
	if !strings.HasPrefix(res.Stdout, want) || !strings.HasSuffix(res.Stdout, "\n3\n") {
		t.Errorf("linux.devices:\n%v\nwant prefix:\n%s", res, want)
	}
}

func TestMountsSysctl(t *testing.T) {
	r := newRuntime(t)
	host, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	b := shBundle(t, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
		testbundle.WithSpec(func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": flip(string(host)), "kernel.shmmni": "1234"}
		}))
	out := r.output(b, newID(t))
	if out != flip(string(host))+"\n1234\n" {
		t.Errorf("sysctl inside:\n%s\nwant ip_forward %s and shmmni 1234", out, flip(string(host)))
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(after) != string(host) {
		t.Errorf("the host's ip_forward changed from %q to %q", host, after)
	}
	// A sysctl of a namespace the container does not have is refused.
	b2 := shBundle(t, "true", testbundle.WithoutNamespace(specs.NetworkNamespace),
		testbundle.WithSpec(func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": flip(string(host))}
		}))
	id := newID(t)
	res := r.runContainer(b2, id)
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(after) != string(host) {
		os.WriteFile("/proc/sys/net/ipv4/ip_forward", host, 0)
		t.Errorf("a net sysctl without a net namespace changed the host's ip_forward (restored): %v", res)
	}
	if res.Code == 0 {
		t.Errorf("net sysctl without a net namespace: accepted")
	} else {
		assertOneLineError(t, res, "net.ipv4.ip_forward")
	}
	r.assertNothingLeft(id)
}

func flip(v string) string {
	if strings.TrimSpace(v) == "1" {
		return "0"
	}
	return "1"
}

func TestMountsDotDotDestinationRefused(t *testing.T) {
	r := newRuntime(t)
	for _, dst := range []string{"/mnt/../../../tmp/escape", "../escape", "/mnt/.."} {
		t.Run(dst, func(t *testing.T) {
			b := shBundle(t, "true", testbundle.WithMount(specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs"}))
			id := newID(t)
			res := r.tryCreate(b, id)
			assertOneLineError(t, res, dst)
			if !strings.Contains(res.Stderr, "mounts") && !strings.Contains(res.Stderr, "destination") {
				t.Errorf("error does not name the mount: %q", res.Stderr)
			}
			r.assertNothingLeft(id)
		})
	}
}

// withBind bind-mounts a host directory read-write into the container.
func withBind(src, dst string) testbundle.Option {
	return testbundle.WithMount(bindMount(src, dst))
}
