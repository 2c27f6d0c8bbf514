package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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

// consoleSocket listens on a unix socket for the pty master a runtime sends
// with SCM_RIGHTS, as containerd and Podman do.
type consoleSocket struct {
	path string
	ln   *net.UnixListener
	// master receives the pty master, or nil with err.
	master chan *os.File
	err    chan error
}

func newConsoleSocket(t *testing.T) *consoleSocket {
	t.Helper()
	// Short path: sun_path holds 108 bytes.
	dir, err := os.MkdirTemp("", "hc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	cs := &consoleSocket{path: path, ln: ln, master: make(chan *os.File, 1), err: make(chan error, 1)}
	t.Cleanup(func() { ln.Close() })
	go cs.accept()
	return cs
}

func (cs *consoleSocket) accept() {
	conn, err := cs.ln.AcceptUnix()
	if err != nil {
		cs.err <- err
		return
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		cs.err <- err
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		cs.err <- errors.New("console socket: no control message")
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		cs.err <- errors.New("console socket: not one fd in SCM_RIGHTS")
		return
	}
	cs.master <- os.NewFile(uintptr(fds[0]), "pty-master")
}

// receive waits for the pty master.
func (cs *consoleSocket) receive(t *testing.T) *os.File {
	t.Helper()
	select {
	case m := <-cs.master:
		t.Cleanup(func() { m.Close() })
		return m
	case err := <-cs.err:
		t.Fatalf("console socket: %v", err)
	case <-time.After(commandTimeout):
		t.Fatalf("console socket: no pty master received")
	}
	return nil
}

// readAll reads the master until the other side is closed (EIO) and
// returns the output with CRLF turned into LF.
func readAll(master *os.File) string {
	var buf bytes.Buffer
	io.Copy(&buf, master) // ends with EIO once every slave fd is closed
	return strings.ReplaceAll(buf.String(), "\r\n", "\n")
}

func TestConsoleSocketCreateStart(t *testing.T) {
	r := newRuntime(t)
	cs := newConsoleSocket(t)
	b := shBundle(t, "tty; stty size; read line; echo got:$line; ls -l /proc/self/fd/0 | sed 's/.*-> //'",
		testbundle.WithTerminal(),
		testbundle.WithSpec(func(s *specs.Spec) { s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101} }))
	id := newID(t)
	r.create(b, id, "--console-socket", cs.path)
	master := cs.receive(t)
	// The master is a pty master: its peer name is the container's tty.
	if _, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN); err != nil {
		t.Errorf("the fd received is not a pty master: %v", err)
	}
	r.ok("start", id)
	if _, err := master.Write([]byte("typed-input\n")); err != nil {
		t.Fatal(err)
	}
	out := readAll(master)
	for _, want := range []string{"/dev/pts/0\n", "33 101\n", "got:typed-input\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("console output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "/dev/pts/0") {
		t.Errorf("stdin is not the pty:\n%s", out)
	}
	r.waitStatus(id, "stopped")
}

func TestConsoleSocketRun(t *testing.T) {
	r := newRuntime(t)
	cs := newConsoleSocket(t)
	b := shBundle(t, "tty; test -t 1 && echo stdout-is-tty; exit 5", testbundle.WithTerminal())
	id := newID(t)
	done := make(chan result, 1)
	go func() { done <- r.runFiles(id, "run", "--bundle", b.Dir, "--console-socket", cs.path, id) }()
	master := cs.receive(t)
	out := readAll(master)
	res := <-done
	if res.Code != 5 {
		t.Errorf("run with a terminal: exit %d, want 5: %v", res.Code, res)
	}
	if !strings.Contains(out, "/dev/pts/0\nstdout-is-tty\n") {
		t.Errorf("console output:\n%s", out)
	}
}

func TestConsoleTerminalWithoutSocket(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "true", testbundle.WithTerminal())
	id := newID(t)
	res := r.tryCreate(b, id)
	assertOneLineError(t, res, "console-socket")
	r.assertNothingLeft(id)
}

func TestConsoleExecTTY(t *testing.T) {
	r := newRuntime(t)
	id, _ := execTarget(t, r)
	cs := newConsoleSocket(t)
	p := specs.Process{
		Terminal: true, ConsoleSize: &specs.Box{Height: 12, Width: 34},
		Args: []string{"sh", "-c", "tty; stty size; exit 3"}, Env: []string{"PATH=/bin"}, Cwd: "/",
	}
	data, _ := json.Marshal(p)
	file := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(file, data, 0o644)
	done := make(chan result, 1)
	go func() { done <- r.runFiles(id+"-exec", "exec", "--process", file, "--console-socket", cs.path, id) }()
	master := cs.receive(t)
	out := readAll(master)
	res := <-done
	if res.Code != 3 {
		t.Errorf("exec with a terminal: exit %d, want 3: %v", res.Code, res)
	}
	if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "12 34\n") {
		t.Errorf("exec console output:\n%s", out)
	}

	// exec -t with --console-socket, args form.
	cs2 := newConsoleSocket(t)
	go func() {
		done <- r.runFiles(id+"-exec2", "exec", "-t", "--console-socket", cs2.path, id, "sh", "-c", "tty")
	}()
	out = readAll(cs2.receive(t))
	if res := <-done; res.Code != 0 {
		t.Errorf("exec -t: %v", res)
	}
	if !strings.HasPrefix(strings.TrimSpace(out), "/dev/pts/") {
		t.Errorf("exec -t output: %q", out)
	}
}
