package integration

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pty pair (master, slave).
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

// runOnPTY runs cmd on a terminal of its own (its controlling tty, as
// stdin, stdout and stderr), sized rows x cols unless both are 0, types
// input, and returns what the terminal showed and cmd's Wait error.
func runOnPTY(t *testing.T, cmd *exec.Cmd, rows, cols uint16, input string) (string, error) {
	t.Helper()
	master, slave := openPTY(t)
	if rows > 0 || cols > 0 {
		unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				close(readDone)
				return
			}
		}
	}()
	if input != "" {
		time.Sleep(300 * time.Millisecond) // let the container's shell start reading
		master.Write([]byte(input))
	}
	err := cmd.Wait()
	// Drain what the terminal still holds; the bound only keeps a
	// lingering holder of the slave from blocking the test.
	select {
	case <-readDone:
	case <-time.After(5 * time.Second):
	}
	return out.String(), err
}

// runOnTTY runs hutch args... on a terminal of its own sized rows x cols,
// types input, and returns what the terminal showed and the exit code.
func (e *engineT) runOnTTY(rows, cols uint16, input string, args ...string) (string, int) {
	e.t.Helper()
	out, err := runOnPTY(e.t, e.command(e.t.Context(), args...), rows, cols, input)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out, code
}

func TestEngineTTY(t *testing.T) {
	e := newEngine(t)
	// -t: the container's stdout is a terminal of the caller's size.
	out, code := e.runOnTTY(33, 101, "", "run", "--rm", "-t", e.image, "sh", "-c", "stty size; tty; exit 5")
	if code != 5 || !strings.Contains(out, "33 101") || !strings.Contains(out, "/dev/pts/0") {
		t.Errorf("run -t: exit %d, output %q", code, out)
	}
	// -it: what is typed reaches the shell.
	out, code = e.runOnTTY(24, 80, "echo typed-$((6*7))\rexit 3\r", "run", "--rm", "-it", e.image, "sh")
	if code != 3 || !strings.Contains(out, "typed-42") {
		t.Errorf("run -it: exit %d, output %q", code, out)
	}
	// exec -it into a running container.
	e.runDetached("--name", "box", e.image, "sleep", "1000")
	out, code = e.runOnTTY(40, 120, "stty size\rexit 4\r", "exec", "-it", "box", "sh")
	if code != 4 || !strings.Contains(out, "40 120") {
		t.Errorf("exec -it: exit %d, output %q", code, out)
	}
}

func TestEngineHealthcheck(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "hc", "--health-cmd", "test -e /tmp/ok", "--health-interval", "100ms", "--health-retries", "2", e.image, "sleep", "1000")
	waitHealth := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := e.inspect("hc", "{{.State.Health.Status}}")
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health %q, want %q", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitHealth("unhealthy")
	if ps := e.ok("ps", "--format", "{{.Status}}"); !strings.Contains(ps, "(unhealthy)") {
		t.Errorf("ps: %q", ps)
	}
	e.ok("exec", "hc", "touch", "/tmp/ok")
	waitHealth("healthy")
	// A check run by hand, as `podman healthcheck run`.
	if out := e.ok("healthcheck", "run", "hc"); out != "healthy\n" {
		t.Errorf("healthcheck run: %q", out)
	}
	e.fails(125, "healthcheck", "run", "no-such-container")
}
