package runccli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/fdpass"
	"hutch.dev/hutch/runtime"
	"hutch.dev/hutch/runtime/specconv"
)

// runForeground is runc's `run`: create, start and, unless detached, wait
// for the init with signals forwarded and the terminal relayed, then
// delete the container.
func runForeground(root, id string, o runtime.CreateOptions, detach, keep bool) (int, error) {
	// The config is read once, here: whether the process wants a
	// terminal decides the relay, and Create takes it as it is. A config
	// that does not load is left to Create, which reports it.
	terminal := false
	if spec, err := specconv.LoadBundle(o.Bundle); err == nil {
		o.Spec = spec
		terminal = spec.Process.Terminal
	}
	var relay *ttyRelay
	if terminal && o.ConsoleSocket == "" {
		if detach {
			return 0, errdefs.InvalidArgument("process.terminal is true: --detach needs --console-socket")
		}
		var err error
		relay, err = newTTYRelay()
		if err != nil {
			return 0, err
		}
		defer relay.Close()
		o.ConsoleConn = relay.remote
	}
	var sigs chan os.Signal
	if !detach {
		// The init is our grandchild when it has its own pid namespace:
		// become the subreaper so that it is reparented to us.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
		}
		sigs = make(chan os.Signal, 128)
		registered := notifyAll(sigs)
		defer func() { registered(); signal.Stop(sigs) }()
	}
	c, err := runtime.Create(root, id, o)
	if err != nil {
		return 0, err
	}
	if relay != nil {
		if err := relay.receive(); err != nil {
			c.Delete(true)
			return 0, err
		}
	}
	if err := c.Start(); err != nil {
		c.Delete(true)
		return 0, err
	}
	if detach {
		return 0, nil
	}
	code := waitProcess(c.State.InitPid, sigs, relay)
	if relay != nil {
		relay.drain()
	}
	if !keep {
		if err := c.Delete(true); err != nil {
			return code, err
		}
	}
	return code, nil
}

// waitProcess forwards signals to pid and reaps children until pid exits;
// it returns the exit status the shell convention gives (128+signal).
func waitProcess(pid int, sigs chan os.Signal, relay *ttyRelay) int {
	if relay != nil {
		relay.resize()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if code, done := reap(pid); done {
			return code
		}
		select {
		case sig := <-sigs:
			s := sig.(unix.Signal)
			switch s {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
				// SIGURG is the Go runtime's own preemption signal.
			case unix.SIGWINCH:
				if relay != nil {
					relay.resize()
				}
			default:
				unix.Kill(pid, s)
			}
		case <-tick.C:
		}
	}
}

// reap collects every exited child (we are a subreaper, orphans of the
// container may land here) and reports pid's status when it is among them.
func reap(pid int) (int, bool) {
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || wpid <= 0 {
			if err == unix.ECHILD {
				// Not our child after all (should not happen): poll.
				if unix.Kill(pid, 0) == unix.ESRCH {
					return 255, true
				}
			}
			return 0, false
		}
		if wpid == pid {
			if ws.Signaled() {
				return 128 + int(ws.Signal()), true
			}
			return ws.ExitStatus(), true
		}
	}
}

// ttyRelay receives a pty master over a socketpair (the same way a
// --console-socket caller would) and copies between it and our stdio.
type ttyRelay struct {
	local, remote *os.File
	master        *os.File
	restore       func() // the terminal's mode before raw, or nil
	outDone       chan struct{}
}

func newTTYRelay() (*ttyRelay, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &ttyRelay{local: os.NewFile(uintptr(fds[0]), "console-local"), remote: os.NewFile(uintptr(fds[1]), "console-remote")}, nil
}

func (t *ttyRelay) receive() error {
	t.remote.Close()
	master, err := fdpass.Recv(t.local)
	if err != nil {
		return fmt.Errorf("receive the pty master: %w", err)
	}
	t.master = master
	if restore, err := cli.MakeRaw(int(os.Stdin.Fd())); err == nil {
		t.restore = restore
	}
	t.outDone = make(chan struct{})
	go func() {
		io.Copy(os.Stdout, master)
		close(t.outDone)
	}()
	go io.Copy(master, os.Stdin)
	return nil
}

func (t *ttyRelay) resize() {
	if t.master == nil {
		return
	}
	if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// drain waits (briefly) for the last output of the container.
func (t *ttyRelay) drain() {
	if t.outDone == nil {
		return
	}
	select {
	case <-t.outDone:
	case <-time.After(2 * time.Second):
	}
}

func (t *ttyRelay) Close() {
	if t.restore != nil {
		t.restore()
	}
	if t.master != nil {
		t.master.Close()
	}
	t.local.Close()
	t.remote.Close()
}

// notifyAll asks for every signal on sigs, in the background, and
// returns a function that waits until that is done. Registering is a
// round trip with the Go runtime's signal thread per signal (some 65),
// 2-3 ms on our machines, which overlaps with create this way. A signal
// in that window acts as it would have a moment earlier, before
// registration began.
func notifyAll(sigs chan os.Signal) (registered func()) {
	done := make(chan struct{})
	go func() {
		signal.Notify(sigs)
		close(done)
	}()
	return func() { <-done }
}
