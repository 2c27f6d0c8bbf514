// Package fdpass receives file descriptors sent over unix sockets
// (SCM_RIGHTS): the pty master a runtime sends to a console socket.
package fdpass

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Recv reads one message carrying one descriptor from sock and returns it
// as a file named by the message's text.
func Recv(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, 0)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no fd in the message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no fd in the message")
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
