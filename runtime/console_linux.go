package runtime

import (
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupConsole opens a new pty from the container's /dev/ptmx, sends the
// master to the console socket (SCM_RIGHTS, as runc does: the receiver,
// e.g. containerd-shim or conmon, owns the terminal from then on), makes the
// slave the process's stdio and its controlling terminal, and bind-mounts
// it on /dev/console.
func setupConsole(consoleFd int, size *specs.Box, mountConsole bool) error {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("pty number: %w", err)
	}
	slavePath := "/dev/pts/" + strconv.Itoa(n)
	slave, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", slavePath, err)
	}
	defer unix.Close(slave)
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(slave, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	if mountConsole {
		if err := mountDevConsole(slavePath); err != nil {
			return err
		}
	}
	rights := unix.UnixRights(master)
	if err := unix.Sendmsg(consoleFd, []byte(slavePath), rights, nil, 0); err != nil {
		return fmt.Errorf("send pty master to the console socket: %w", err)
	}
	unix.Close(consoleFd)
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("dup pty to fd %d: %w", fd, err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}

func mountDevConsole(slavePath string) error {
	// Create a plain file to mount on; never open an existing node, which
	// could be a real console.
	fd, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == nil {
		unix.Close(fd)
	} else if err != unix.EEXIST {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	if err := unix.Mount(slavePath, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind mount", Path: "/dev/console", Err: err}
	}
	return nil
}
