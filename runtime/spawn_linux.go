package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cgroups"
)

// nsJoin is a namespace the child joins by path.
type nsJoin struct {
	Type string // /proc/PID/ns name: user, mnt, pid ...
	Path string
}

// spawnRequest says how to start a child that ends up inside the
// container's namespaces: joined ones, new ones, its stdio and the files it
// inherits.
type spawnRequest struct {
	Joins       []nsJoin
	CloneFlags  uintptr
	TimeOffsets map[string]specs.LinuxTimeOffset
	UIDMappings []specs.LinuxIDMapping
	GIDMappings []specs.LinuxIDMapping
	// Preserved are passed as fds 3, 4, ... (runc's --preserve-fds);
	// Extra follow the runtime's own sync socket and executable.
	Preserved []*os.File
	Extra     []*os.File
	Stdin     *os.File
	Stdout    *os.File
	Stderr    *os.File
	// Cgroup, when set, receives the child before it creates any
	// namespace, so that a new cgroup namespace is rooted at it.
	Cgroup cgroups.Manager
	// JoinCgroup: Cgroup is an existing container's (exec), entered
	// without creating anything.
	JoinCgroup bool
}

// joins reports whether the request joins a namespace of one of the types.
func (r *spawnRequest) joins(types ...string) bool {
	for _, j := range r.Joins {
		for _, t := range types {
			if j.Type == t {
				return true
			}
		}
	}
	return false
}

// spawned is a child that reached its final namespaces.
type spawned struct {
	Pid  int
	Pipe *syncPipe
	// cmd is the direct child; when the constructor forked (new pid or
	// time namespace) it has already been reaped and Pid is its child.
	cmd *exec.Cmd
}

// childFd is the fd number of Extra[i] in the child.
func (r *spawnRequest) childFd(i int) int { return 3 + len(r.Preserved) + 2 + i }

// spawn starts the binary as the container's init from a protected copy
// (protectedExe: CVE-2019-5736) and walks the nsenter protocol with it
// (see runtime/nsenter) until it reports the pid of the process that runs
// in the container's namespaces; that process is the init, in C, from then
// on.
func spawn(r *spawnRequest) (*spawned, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	parentSock := os.NewFile(uintptr(fds[0]), "sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "sync-child")

	exe, err := protectedExe()
	if err != nil {
		parentSock.Close()
		childSock.Close()
		return nil, err
	}
	defer exe.Close()

	syncFd := 3 + len(r.Preserved)
	exeFd := syncFd + 1
	files := append(append([]*os.File{}, r.Preserved...), childSock, exe)
	files = append(files, r.Extra...)
	cmd := &exec.Cmd{
		Path:       "/proc/self/fd/" + strconv.Itoa(exeFd),
		Args:       []string{"hutch", "init"},
		Env:        []string{"_HUTCH_INITPIPE=" + strconv.Itoa(syncFd), "HUTCH_TRACE=" + os.Getenv("HUTCH_TRACE")},
		Stdin:      r.Stdin,
		Stdout:     r.Stdout,
		Stderr:     r.Stderr,
		ExtraFiles: files,
	}
	tracef("spawn: exe ready")
	// A new pid namespace owned by our own user namespace can be made by
	// clone itself, sparing the constructor a fork. Not with a new user
	// namespace (the pid namespace must belong to it, so the constructor
	// creates both), nor when the constructor forks anyway (a time
	// namespace, or a pid or time namespace joined): its intermediate
	// would be the new namespace's PID 1, and its exit would kill the init.
	flags := r.CloneFlags
	if flags&unix.CLONE_NEWPID != 0 && flags&(unix.CLONE_NEWUSER|unix.CLONE_NEWTIME) == 0 && !r.joins("pid", "time") {
		cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: unix.CLONE_NEWPID}
		flags &^= unix.CLONE_NEWPID
	}
	// The cgroup directories are made while the child starts: mkdir of a
	// cgroup brings its controllers online, the slowest part of Apply on
	// a v1 host (ten hierarchies). The child only waits for them before
	// it makes namespaces (Apply with its pid, below).
	made := make(chan error, 1)
	if r.Cgroup != nil && !r.JoinCgroup {
		go func() { made <- r.Cgroup.Apply(-1) }()
	} else {
		made <- nil
	}
	err = cmd.Start()
	// Only the child may hold its end: a child that dies (killed by a
	// delete --force of the container it was joining, say) must give us
	// EOF, not a read that waits for ever.
	childSock.Close()
	if err != nil {
		<-made
		parentSock.Close()
		return nil, fmt.Errorf("start container init: %w", err)
	}
	tracef("spawn: started %d", cmd.Process.Pid)
	pipe := newSyncPipe(parentSock)
	fail := func(err error) (*spawned, error) {
		cmd.Process.Kill()
		cmd.Wait()
		pipe.Close()
		return nil, err
	}
	if err := <-made; err != nil {
		return fail(err)
	}
	if r.Cgroup != nil {
		enter := r.Cgroup.Apply
		if r.JoinCgroup {
			enter = r.Cgroup.Enter
		}
		if err := enter(cmd.Process.Pid); err != nil {
			return fail(err)
		}
	}

	var b strings.Builder
	for _, j := range r.Joins {
		fmt.Fprintf(&b, "join %s %s\n", j.Type, j.Path)
	}
	fmt.Fprintf(&b, "flags %d\n", flags)
	for clock, off := range r.TimeOffsets {
		fmt.Fprintf(&b, "timens %s %d %d\n", clock, off.Secs, off.Nanosecs)
	}
	b.WriteString("end\n")
	tracef("spawn: cgroup applied")
	if _, err := parentSock.WriteString(b.String()); err != nil {
		return fail(fmt.Errorf("send bootstrap: %w", err))
	}

	for {
		line, err := pipe.recvLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("container init exited during namespace setup")
			}
			return fail(err)
		}
		msg := strings.TrimSuffix(string(line), "\n")
		switch {
		case msg == "usermap":
			if err := writeIDMaps(cmd.Process.Pid, r.UIDMappings, r.GIDMappings); err != nil {
				return fail(err)
			}
			if _, err := parentSock.WriteString("mapped\n"); err != nil {
				return fail(err)
			}
		case strings.HasPrefix(msg, "pid "):
			pid, err := strconv.Atoi(msg[4:])
			if err != nil {
				return fail(fmt.Errorf("bad pid from nsenter: %q", msg))
			}
			sp := &spawned{Pid: pid, Pipe: pipe, cmd: cmd}
			if pid == 0 {
				sp.Pid = cmd.Process.Pid
			} else {
				// The intermediate process exits right after the fork.
				cmd.Wait()
			}
			return sp, nil
		case strings.HasPrefix(msg, "error "):
			return fail(errors.New(msg[len("error "):]))
		default:
			return fail(fmt.Errorf("unexpected message from nsenter: %q", msg))
		}
	}
}

// writeIDMaps writes the user namespace maps of pid from the outer user
// namespace; the kernel checks the writer's privileges there.
func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping) error {
	format := func(ms []specs.LinuxIDMapping) []byte {
		var b strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		return []byte(b.String())
	}
	base := "/proc/" + strconv.Itoa(pid)
	if err := os.WriteFile(base+"/uid_map", format(uids), 0); err != nil {
		return fmt.Errorf("linux.uidMappings: write %s/uid_map: %w", base, unwrapPathErr(err))
	}
	if err := os.WriteFile(base+"/gid_map", format(gids), 0); err != nil {
		return fmt.Errorf("linux.gidMappings: write %s/gid_map: %w", base, unwrapPathErr(err))
	}
	return nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
