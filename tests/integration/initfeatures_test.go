package integration

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/internal/testbundle"
)

// The container's init is C (runtime/nsenter); these are the parts of it
// that the other tests and the runtime-tools suite do not reach: each
// config field is checked from inside the container.

// TestInitProcessAttributes: personality, I/O priority and scheduler.
func TestInitProcessAttributes(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, `uname -m; ionice -p $$; cut -d' ' -f19,41 /proc/self/stat`,
		testbundle.WithSpec(func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 7}
		}))
	out := r.output(b, newID(t))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("output %q, want three lines", out)
	}
	if lines[0] != "i686" {
		t.Errorf("uname -m with personality LINUX32 = %q, want i686", lines[0])
	}
	if !strings.Contains(lines[1], "best-effort") || !strings.Contains(lines[1], "6") {
		t.Errorf("ionice = %q, want best-effort priority 6", lines[1])
	}
	// /proc/PID/stat: field 19 is the nice value, 41 the policy (3: batch).
	if lines[2] != "7 3" {
		t.Errorf("nice and policy = %q, want \"7 3\"", lines[2])
	}

	bad := shBundle(t, "true", testbundle.WithSpec(func(s *specs.Spec) {
		s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_NOPE"}
	}))
	id := newID(t)
	if res := r.runContainer(bad, id); res.Code == 0 || !strings.Contains(res.Stderr, "SCHED_NOPE") {
		t.Errorf("unknown scheduler policy: want an error naming it: %v", res)
	}
	r.assertNothingLeft(id)
}

// TestInitTmpcopyup: a tmpfs with tmpcopyup starts with what the image
// had in that directory, and writes stay in the tmpfs.
func TestInitTmpcopyup(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, `grep -c ^root: /etc/passwd; echo x > /etc/new && cat /etc/new; grep -c ' /etc tmpfs ' /proc/mounts`,
		testbundle.WithMount(specs.Mount{Destination: "/etc", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"tmpcopyup", "nosuid", "nodev", "mode=755"}}))
	out := r.output(b, newID(t))
	if got := strings.Fields(out); strings.Join(got, " ") != "1 x 1" {
		t.Errorf("tmpcopyup on /etc: output %q, want the image's passwd, a write, and /etc as tmpfs", out)
	}
	if _, err := os.Stat(filepath.Join(b.Dir, "rootfs", "etc", "new")); err == nil {
		t.Errorf("a write to the tmpfs reached the image's /etc")
	}
}

// TestInitNoPivot: --no-pivot moves the root over / and chroots instead of
// pivot_root (for roots on ramfs); with --no-new-keyring too, the
// container still runs in its own root.
func TestInitNoPivot(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, `cat /etc/hostname-of-image`,
		testbundle.WithFile("/etc/hostname-of-image", "from-the-image\n", 0o644))
	for _, flags := range [][]string{nil, {"--no-pivot", "--no-new-keyring"}} {
		id := newID(t)
		res := r.runContainer(b, id, flags...)
		if res.Code != 0 || !strings.Contains(res.Stdout, "from-the-image") {
			t.Fatalf("run %v: %v", flags, res)
		}
		r.assertNothingLeft(id)
	}
}

// TestInitSeccompNotifyHandsListenerToAgent: with SCMP_ACT_NOTIFY the
// init connects to linux.seccomp.listenerPath and sends the container
// process state with the listener fd, as the spec describes.
func TestInitSeccompNotifyHandsListenerToAgent(t *testing.T) {
	r := newRuntime(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type got struct {
		state specs.ContainerProcessState
		fds   int
		err   error
	}
	recv := make(chan got, 1)
	go func() {
		l.SetDeadline(time.Now().Add(60 * time.Second))
		c, err := l.AcceptUnix()
		if err != nil {
			recv <- got{err: err}
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4*4))
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			recv <- got{err: err}
			return
		}
		var g got
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if fds, err := unix.ParseUnixRights(&m); err == nil {
				g.fds += len(fds)
				for _, fd := range fds {
					unix.Close(fd) // pending notifications then fail with ENOSYS
				}
			}
		}
		// The rest of the JSON may follow in more reads.
		data := buf[:n]
		for !json.Valid(data) {
			m, err := c.Read(buf)
			if err != nil {
				break
			}
			data = append(data, buf[:m]...)
		}
		g.err = json.Unmarshal(data, &g.state)
		recv <- g
	}()

	b := shBundle(t, `mkdir /tmp/x && echo made || echo refused`, testbundle.WithSpec(func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow, ListenerPath: sock, ListenerMetadata: "hutch-test",
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
		}
	}))
	id := newID(t)
	res := r.runContainer(b, id)
	g := <-recv
	if g.err != nil {
		t.Fatalf("agent: %v (run: %v)", g.err, res)
	}
	if g.fds != 1 {
		t.Errorf("agent got %d fds, want the listener alone", g.fds)
	}
	if g.state.State.ID != id || g.state.Metadata != "hutch-test" || len(g.state.Fds) != 1 || g.state.Fds[0] != specs.SeccompFdName {
		t.Errorf("agent got state %+v, want the container %s, its metadata and fds [%s]", g.state, id, specs.SeccompFdName)
	}
	if res.Code != 0 || strings.TrimSpace(res.Stdout) != "refused" {
		t.Errorf("mkdir with the agent gone: %v, want it refused", res)
	}
	r.assertNothingLeft(id)
}
