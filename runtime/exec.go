package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime/specconv"
)

// ExecOptions describe a process to start in a running container.
type ExecOptions struct {
	Process               *specs.Process
	ConsoleSocket         string
	ConsoleConn           *os.File
	PidFile               string
	PreserveFds           int
	NoNewKeyring          bool
	Stdin, Stdout, Stderr *os.File
}

// Exec starts a process inside the container's namespaces and cgroup and
// returns its pid once execve succeeded. The caller that wants to wait for
// it must be its parent or subreaper: when the container has its own pid
// namespace the process is a grandchild.
func (c *Container) Exec(opts ExecOptions) (int, error) {
	id := c.State.ID
	if err := c.notIn(c.Status(), StatusRunning, StatusCreated); err != nil {
		return 0, fmt.Errorf("%w: exec needs a running container", err)
	}
	p := opts.Process
	if err := specconv.ValidateProcess(p); err != nil {
		return 0, fmt.Errorf("container %q: exec: %w", id, err)
	}
	mgr, err := c.cgroupManager()
	if err != nil {
		return 0, fmt.Errorf("container %q: exec: %w", id, err)
	}
	sc := c.State.Config.Linux.Seccomp
	bpf := compileSeccomp(c.root, sc)
	var extra []*os.File
	consoleFd, listenerFd := -1, -1
	listener, err := openSeccompListener(sc)
	if err != nil {
		return 0, err
	}
	if listener != nil {
		defer listener.Close()
		extra = append(extra, listener)
		listenerFd = 0
	}
	if p.Terminal {
		conn := opts.ConsoleConn
		if conn == nil {
			if opts.ConsoleSocket == "" {
				return 0, errdefs.InvalidArgument("exec with a terminal needs --console-socket")
			}
			conn, err = dialConsoleSocket(opts.ConsoleSocket)
			if err != nil {
				return 0, err
			}
			defer conn.Close()
		}
		extra = append(extra, conn)
		consoleFd = len(extra) - 1
	}
	req := &spawnRequest{
		Extra:  extra,
		Stdin:  orFile(opts.Stdin, os.Stdin),
		Stdout: orFile(opts.Stdout, os.Stdout),
		Stderr: orFile(opts.Stderr, os.Stderr),
		Cgroup: mgr, JoinCgroup: true,
	}
	for i := 0; i < opts.PreserveFds; i++ {
		req.Preserved = append(req.Preserved, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(3+i)))
	}
	if path, ok := c.State.Namespaces["user"]; ok {
		req.Joins = append(req.Joins, nsJoin{Type: "user", Path: path})
	}
	for _, t := range []string{"mnt", "pid", "net", "ipc", "uts", "cgroup", "time"} {
		if path, ok := c.State.Namespaces[t]; ok {
			req.Joins = append(req.Joins, nsJoin{Type: t, Path: path})
		}
	}
	sp, err := spawn(req)
	if err != nil {
		return 0, fmt.Errorf("container %q: exec: %w", id, err)
	}
	defer sp.Pipe.Close()
	cfg := &initConfig{
		Kind: initSetns, ID: id, Process: p, FifoFd: -1, ConsoleFd: -1, SeccompListenerFd: -1,
		PreserveFds: opts.PreserveFds, NoNewKeyring: opts.NoNewKeyring,
		State: c.hookState(StatusRunning),
	}
	if consoleFd >= 0 {
		cfg.ConsoleFd = req.childFd(consoleFd)
	}
	if listenerFd >= 0 {
		cfg.SeccompListenerFd = req.childFd(listenerFd)
	}
	if err := bpf.into(cfg, sc); err != nil {
		killAndWait(sp.Pid)
		return 0, fmt.Errorf("container %q: exec: %w", id, err)
	}
	if err := sp.Pipe.sendConfig(cfg); err != nil {
		killAndWait(sp.Pid)
		return 0, fmt.Errorf("container %q: exec: %w", id, err)
	}
	// The socket is close-on-exec in the child: EOF means execve worked.
	var m syncMsg
	if err := sp.Pipe.recv(&m); !errors.Is(err, io.EOF) {
		killAndWait(sp.Pid)
		if err == nil && m.Type == msgError {
			err = errors.New(m.Message)
		}
		return 0, fmt.Errorf("container %q: exec: %w", id, err)
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, sp.Pid); err != nil {
			return sp.Pid, err
		}
	}
	return sp.Pid, nil
}
