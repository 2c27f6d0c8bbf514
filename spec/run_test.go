package spec_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
	"hutch.dev/hutch/spec"
)

// runtimes are the OCI runtimes the built specs are run with: Hutch's own
// (HUTCH_BIN, default ../bin/hutch, through a hutch-runc link) and runc,
// the reference, where they are installed.
func runtimes(t *testing.T) map[string]string {
	if os.Geteuid() != 0 {
		t.Skip("starting containers needs root")
	}
	out := map[string]string{}
	bin := os.Getenv("HUTCH_BIN")
	if bin == "" {
		bin = "../bin/hutch"
	}
	if abs, err := filepath.Abs(bin); err == nil {
		if _, err := os.Stat(abs); err == nil {
			link := filepath.Join(t.TempDir(), "hutch-runc")
			if os.Symlink(abs, link) == nil {
				out["hutch"] = link
			}
		}
	}
	if p, err := exec.LookPath("runc"); err == nil {
		out["runc"] = p
	}
	if len(out) == 0 {
		t.Skip("no OCI runtime: build bin/hutch or install runc")
	}
	return out
}

// runSpec runs the process of s in a fresh bundle with the runtime at bin
// and returns its output.
func runSpec(t *testing.T, bin string, b *testbundle.Bundle, s *specs.Spec) string {
	t.Helper()
	b.Spec = s
	b.Save()
	root := t.TempDir()
	id := fmt.Sprintf("spec-test-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--root", root, "run", "--bundle", b.Dir, id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	exec.Command(bin, "--root", root, "delete", "--force", id).Run()
	if err != nil {
		t.Fatalf("%s run: %v\nstdout: %s\nstderr: %s", filepath.Base(bin), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// A spec from Build runs as Docker's would: user and groups from the
// image's files, the working directory made, the environment, hostname,
// capabilities, seccomp, limits, devices and sysctls in force.
func TestBuildRuns(t *testing.T) {
	for name, bin := range runtimes(t) {
		t.Run(name, func(t *testing.T) {
			b := testbundle.New(t)
			script := strings.Join([]string{
				`id`, `pwd`, `hostname`, `echo "FOO=$FOO HOME=$HOME"`,
				`grep -E '^(CapBnd|CapEff|Seccomp|NoNewPrivs):' /proc/self/status`,
				`cd /sys/fs/cgroup; if [ -f memory.max ]; then cat memory.max pids.max cpu.max; else cat memory/memory.limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us | tr '\n' ' '; echo; fi; cd /srv/app`,
				`ulimit -n`, `cat /proc/sys/net/ipv4/ip_unprivileged_port_start`,
				`ls -l /dev/myzero | cut -c1`, `head -c 3 /dev/myzero | od -An -tx1`,
				`grep -w /dev/shm /proc/mounts | grep -o 'size=[0-9a-z]*'`,
				`touch /x 2>&1 | grep -o 'Read-only file system'`,
			}, "; ")
			s, err := spec.Build(&spec.Options{
				ID:     "abcdef0123456789",
				Rootfs: b.Rootfs,
				ImageConfig: &v1.Config{
					Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"exit 3"},
					Env: []string{"FOO=image"}, User: "test", WorkingDir: "/srv/app",
				},
				Cmd:             []string{script},
				Env:             []string{"FOO=user"},
				GroupAdd:        []string{"tty"},
				CapDrop:         []string{"ALL"},
				CapAdd:          []string{"chown"},
				NoNewPrivileges: true,
				ReadOnly:        true,
				Memory:          64 << 20,
				NanoCPUs:        5e8,
				PidsLimit:       50,
				ShmSize:         8 << 20,
				Ulimits:         []specs.POSIXRlimit{{Type: "nofile", Soft: 321, Hard: 321}},
				Devices:         []spec.DeviceRequest{{PathOnHost: "/dev/zero", PathInContainer: "/dev/myzero", Permissions: "r"}},
				CgroupsPath:     "/hutch-spec-test-" + name,
			})
			if err != nil {
				t.Fatal(err)
			}
			out := runSpec(t, bin, b, s)
			limits := "67108864 50 50000 100000 \n" // cgroup v1
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				limits = "67108864\n50\n50000 100000\n"
			}
			for _, want := range []string{
				"uid=1000(test) gid=1000(test) groups=5(tty),100(users),1000(test)",
				"\n/srv/app\n", "\nabcdef012345\n", "FOO=user HOME=/home/test",
				"CapBnd:\t0000000000000001", "Seccomp:\t2", "NoNewPrivs:\t1",
				limits, "\n321\n", "\n0\n",
				"\nc\n", "00 00 00", "size=8192k", "Read-only file system",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if fi, err := os.Stat(filepath.Join(b.Rootfs, "srv/app")); err != nil || !fi.IsDir() {
				t.Errorf("WorkingDir not made: %v", err)
			}
		})
	}
}

// A privileged container has every capability, no seccomp filter, the
// host's devices and a writable /sys.
func TestBuildRunsPrivileged(t *testing.T) {
	for name, bin := range runtimes(t) {
		t.Run(name, func(t *testing.T) {
			b := testbundle.New(t)
			s, err := spec.Build(&spec.Options{
				ID: "0123456789abcdef", Rootfs: b.Rootfs, Privileged: true, Init: "",
				Cmd:         []string{"/bin/sh", "-c", `grep -E '^(CapBnd|Seccomp):' /proc/self/status; ls /dev/null /dev/zero; grep -w /sys /proc/mounts | cut -d' ' -f4 | cut -d, -f1`},
				CgroupsPath: "/hutch-spec-test-priv-" + name,
			})
			if err != nil {
				t.Fatal(err)
			}
			out := runSpec(t, bin, b, s)
			for _, want := range []string{"Seccomp:\t0", "/dev/null", "/dev/zero", "\nrw\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			status, _ := os.ReadFile("/proc/self/status")
			for _, l := range strings.Split(string(status), "\n") {
				if strings.HasPrefix(l, "CapBnd:") && !strings.Contains(out, l+"\n") {
					t.Errorf("privileged: not the runtime's bounding set %q:\n%s", l, out)
				}
			}
		})
	}
}

// --init runs the init binary as PID 1 with the command as its child.
func TestBuildRunsInit(t *testing.T) {
	tini, err := exec.LookPath("tini-static")
	if err != nil {
		t.Skip("no tini-static")
	}
	for name, bin := range runtimes(t) {
		t.Run(name, func(t *testing.T) {
			b := testbundle.New(t)
			s, err := spec.Build(&spec.Options{
				ID: "0123456789abcdef", Rootfs: b.Rootfs, Init: tini,
				ImageConfig: &v1.Config{Cmd: []string{"/bin/sh", "-c", `echo "parent $PPID"; cat /proc/1/cmdline`}},
				CgroupsPath: "/hutch-spec-test-init-" + name,
			})
			if err != nil {
				t.Fatal(err)
			}
			out := runSpec(t, bin, b, s)
			if want := "parent 1\n" + spec.InitPath + "\x00--\x00/bin/sh\x00-c\x00"; !strings.HasPrefix(out, want) {
				t.Errorf("output %q, want it to start with %q", out, want)
			}
		})
	}
}
