package main

import (
	"context"
	"io"
	"net"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/engine"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/monitor"
)

// startAttached starts c with a client connection made beforehand, so not
// one byte of output is lost, relays the streams until the container ends
// and returns its exit code (foreground run, start -a).
func startAttached(e *engine.Engine, c *engine.Container, stdin, tty bool) (int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	local := os.NewFile(uintptr(fds[0]), "attach")
	remote := os.NewFile(uintptr(fds[1]), "attach-monitor")
	conn, err := net.FileConn(local)
	local.Close()
	if err != nil {
		remote.Close()
		return 0, err
	}
	defer conn.Close()
	// Signals arriving while we start go to the container once it runs
	// (Docker's --sig-proxy).
	sigs := make(chan os.Signal, 32)
	if !tty {
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
		defer signal.Stop(sigs)
	}
	o := engine.StartOptions{Attach: remote}
	if tty && isTerminal(os.Stdin) {
		if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
			o.ConsoleSize = [2]uint16{ws.Row, ws.Col}
		}
	}
	_, err = e.Start(context.Background(), c.ID, o)
	remote.Close()
	if err != nil {
		return 0, startError(err)
	}
	return relay(conn, stdin, tty, sigs)
}

// relay copies between our stdio and an attach connection until the
// monitor sends the exit code.
func relay(conn net.Conn, stdin, tty bool, sigs chan os.Signal) (int, error) {
	fw := monitor.NewFrameWriter(conn)
	if tty && isTerminal(os.Stdin) {
		if restore, err := cli.MakeRaw(int(os.Stdin.Fd())); err == nil {
			defer restore()
		}
		winch := make(chan os.Signal, 4)
		signal.Notify(winch, unix.SIGWINCH)
		defer signal.Stop(winch)
		sendSize := func() {
			if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
				fw.Write(monitor.FrameResize, monitor.Uint32s(uint32(ws.Row), uint32(ws.Col)))
			}
		}
		sendSize()
		go func() {
			for range winch {
				sendSize()
			}
		}()
	}
	go func() {
		for sig := range sigs {
			fw.Write(monitor.FrameSignal, monitor.Uint32s(uint32(sig.(unix.Signal))))
		}
	}()
	if stdin {
		go func() {
			buf := make([]byte, 32*1024)
			for {
				n, err := os.Stdin.Read(buf)
				if n > 0 {
					if fw.Write(monitor.FrameStdin, buf[:n]) != nil {
						return
					}
				}
				if err != nil {
					fw.Write(monitor.FrameStdinEOF, nil)
					return
				}
			}
		}()
	}
	var buf []byte
	for {
		kind, p, err := monitor.ReadFrame(conn, &buf)
		if err == io.EOF || err != nil {
			// The monitor went away without an exit code: report what the
			// record says.
			return 0, errdefs.FailedPrecondition("the container's monitor closed the attach stream (%v)", err)
		}
		switch kind {
		case monitor.FrameStdout:
			os.Stdout.Write(p)
		case monitor.FrameStderr:
			os.Stderr.Write(p)
		case monitor.FrameExit:
			v, _ := monitor.ParseUint32s(p, 1)
			return int(int32(v[0])), nil
		case monitor.FrameError:
			return 0, startError(errdefs.FailedPrecondition("%s", p))
		}
	}
}

func attachCommand(g *globals) *cobra.Command {
	var noStdin bool
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			c, err := e.Inspect(args[0])
			if err != nil {
				return err
			}
			if !c.State.Running {
				return errdefs.Conflict("you cannot attach to a stopped container %q: start it first", c.Name)
			}
			conn, err := monitor.DialUnix(e.AttachSocket(c.ID))
			if err != nil {
				return errdefs.FailedPrecondition("container %q: its monitor does not answer: %v", c.Name, err)
			}
			defer conn.Close()
			sigs := make(chan os.Signal, 32)
			if !c.Config.Tty {
				signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
				defer signal.Stop(sigs)
			}
			code, err := relay(conn, !noStdin && c.Config.OpenStdin, c.Config.Tty, sigs)
			if err != nil {
				return err
			}
			return &cli.ExitCodeError{Code: code}
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach STDIN")
	return cmd
}
