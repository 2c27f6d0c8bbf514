package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"

	"golang.org/x/sys/unix"
)

// reaperMain is PID 1 of a container run with --init (the hutch binary
// bound read-only at /sbin/hutch-init): it starts the command, forwards
// every signal to it, reaps every orphan, and exits with the command's
// status, as docker-init (tini) does.
func reaperMain(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "hutch-init: no command given")
		return 127
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "hutch-init: %v\n", err)
		return 127
	}
	cmd := exec.Command(path, args[1:]...)
	cmd.Args[0] = args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The command gets the terminal's foreground process group, so ^C on
	// a -t container reaches it.
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true, Foreground: isTerminal(os.Stdin)}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "hutch-init: %v\n", err)
		if os.IsPermission(err) {
			return 126
		}
		return 127
	}
	child := cmd.Process.Pid
	for sig := range sigs {
		s := sig.(unix.Signal)
		if s != unix.SIGCHLD {
			if s != unix.SIGURG { // the Go runtime's own preemption signal
				unix.Kill(child, s)
			}
			continue
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
			if pid == child {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
	return 0
}
