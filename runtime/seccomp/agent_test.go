package seccomp

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// SendListenerFd is the tests' stand-in for the runtime's init (which
// does this in C, runtime/nsenter/process.c): it hands a seccomp listener
// fd to the agent listening at listenerPath, as the runtime-spec's seccomp section describes: it connects
// to the unix socket and sends stateJSON, a specs.ContainerProcessState whose
// fds names the fd ("seccompFd"), with fd attached as SCM_RIGHTS on the same
// message. The connection is closed afterwards; fd stays open for the
// caller to close.
func SendListenerFd(listenerPath string, fd int, stateJSON []byte) error {
	if len(stateJSON) == 0 {
		// The rights ride on the first byte of data; a message without
		// data would carry them nowhere the agent reads.
		return fmt.Errorf("seccomp agent %s: empty container process state", listenerPath)
	}
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("seccomp agent %s: %w", listenerPath, os.NewSyscallError("socket", err))
	}
	defer unix.Close(sock)

	if err := connect(sock, &unix.SockaddrUnix{Name: listenerPath}); err != nil {
		return fmt.Errorf("seccomp agent %s: %w", listenerPath, os.NewSyscallError("connect", err))
	}

	// A stream socket may take the message in parts; the fd goes with the
	// first part only.
	oob := unix.UnixRights(fd)
	for sent := 0; sent < len(stateJSON); {
		n, err := sendmsg(sock, stateJSON[sent:], oob)
		if err != nil {
			return fmt.Errorf("seccomp agent %s: send state and listener fd: %w", listenerPath, os.NewSyscallError("sendmsg", err))
		}
		sent += n
		oob = nil
	}
	return nil
}

func connect(sock int, sa unix.Sockaddr) error {
	for {
		err := unix.Connect(sock, sa)
		if err != unix.EINTR {
			return err
		}
	}
}

func sendmsg(sock int, p, oob []byte) (int, error) {
	for {
		n, err := unix.SendmsgN(sock, p, oob, nil, unix.MSG_NOSIGNAL)
		if err != unix.EINTR {
			return n, err
		}
	}
}
