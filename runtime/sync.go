package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// The parent (create, exec) and the container's init talk over one unix
// socketpair, after the nsenter constructor has reported the child's pid
// (runtime/nsenter). The parent sends the config ("config <len>\n" and
// the records of runtime/nsenter/init.h, see initconfig.go); the init
// answers with JSON objects, one per line, and so does the parent.
//
//	parent (runtime ns)                      init (container namespaces)
//	   | -- config --------------------------> |
//	   |                                        | mounts, devices
//	   | <------------------------ msgHooks --- |  (only with prestart or
//	   | run prestart + createRuntime hooks     |   createRuntime hooks)
//	   | -- msgHooksDone ---------------------> |
//	   |                                        | createContainer hooks,
//	   |                                        | pivot_root, console,
//	   |                                        | credentials, seccomp
//	   | <------------------------ msgReady --- |
//	   |  write state, exit (create)            | block on the exec fifo
//	   |                                        | ... `start` opens it
//	   |                                        | startContainer hooks, execve
//
// Any step may instead send msgError, after which the child exits. The
// socket is close-on-exec: for exec'd processes (setns init) the parent
// learns that execve succeeded when it reads EOF without an error.
const (
	msgHooks     = "hooks"
	msgHooksDone = "hooks-done"
	msgReady     = "ready"
	msgError     = "error"
)

type syncMsg struct {
	Type    string `json:"type"`
	Message string `json:"message,omitempty"`
}

type syncPipe struct {
	f *os.File
	r *bufio.Reader
}

func newSyncPipe(f *os.File) *syncPipe {
	return &syncPipe{f: f, r: bufio.NewReader(f)}
}

func (p *syncPipe) send(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = p.f.Write(append(data, '\n'))
	return err
}

// sendConfig sends the init its config.
func (p *syncPipe) sendConfig(cfg *initConfig) error {
	data, err := cfg.encode()
	if err != nil {
		return err
	}
	msg := append([]byte("config "+strconv.Itoa(len(data))+"\n"), data...)
	_, err = p.f.Write(msg)
	return err
}

func (p *syncPipe) sendType(t string) error { return p.send(syncMsg{Type: t}) }

// recvLine reads one line; io.EOF when the peer closed the socket.
func (p *syncPipe) recvLine() ([]byte, error) {
	line, err := p.r.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil, io.EOF
		}
		if !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	return line, nil
}

// recv reads one message into v (a struct with at least the syncMsg fields).
func (p *syncPipe) recv(v any) error {
	line, err := p.recvLine()
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

// expect reads the next message and fails unless it has type t; an error
// message from the child becomes the returned error.
func (p *syncPipe) expect(t string) error {
	var m syncMsg
	if err := p.recv(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("container init exited before %q", t)
		}
		return err
	}
	if m.Type == msgError {
		return errors.New(m.Message)
	}
	if m.Type != t {
		return fmt.Errorf("container init: expected %q, got %q", t, m.Type)
	}
	return nil
}

func (p *syncPipe) Close() error { return p.f.Close() }
