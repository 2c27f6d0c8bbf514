package runtime

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cgroups"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime/specconv"
	"hutch.dev/hutch/store"
)

// CreateOptions are the flags of `create` (and of `run`).
type CreateOptions struct {
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFds   int
	SystemdCgroup bool
	// Stdio of the container's init; nil means the caller's own.
	Stdin, Stdout, Stderr *os.File
	// ConsoleConn, when set, is used instead of dialling ConsoleSocket
	// (`run` with a terminal and no --console-socket relays itself).
	ConsoleConn *os.File
	// Spec, when set, is the bundle's config already read with
	// specconv.LoadBundle(Bundle) (`run` needs process.terminal first);
	// nil: Create reads it.
	Spec *specs.Spec
}

// Create makes the container's namespaces, root filesystem and cgroup and
// leaves its init blocked on the exec fifo, as the runtime spec's create
// operation says; Start releases it.
func Create(root, id string, opts CreateOptions) (c *Container, err error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	tracef("create: begin")
	spec := opts.Spec
	if spec == nil {
		if spec, err = specconv.LoadBundle(opts.Bundle); err != nil {
			return nil, err
		}
	}
	// libseccomp needs milliseconds for a big profile: compile while the
	// init starts.
	bpf := compileSeccomp(root, spec.Linux.Seccomp)
	bundle, _ := filepath.Abs(opts.Bundle)

	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("state root %s: %w", root, err)
	}
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if os.IsExist(err) {
			return nil, errdefs.AlreadyExists("container %q already exists", id)
		}
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	c = &Container{root: root, dir: dir, State: State{
		ID: id, Bundle: bundle, Rootfs: spec.Root.Path, Created: time.Now().UTC(),
		Owner: ownerName(), Annotations: spec.Annotations, Config: spec,
	}}
	// Everything made from here on is undone if a later step fails.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			os.RemoveAll(dir)
			err = fmt.Errorf("container %q: create: %w", id, err)
		}
	}()
	lk, err := c.lock()
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()

	fifoPath := filepath.Join(dir, execFifoName)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %w", fifoPath, err)
	}
	// The kernel applies the umask to mkfifo; the container's root (maybe
	// an unprivileged host uid) must be able to open it for writing.
	os.Chmod(fifoPath, 0o622)
	fifoFd, err := unix.Open(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", fifoPath, err)
	}
	fifo := os.NewFile(uintptr(fifoFd), fifoPath)
	defer fifo.Close()

	tracef("create: state dir and fifo")
	mgr, err := cgroups.New(spec.Linux.CgroupsPath, id, cgroups.WithSystemd(opts.SystemdCgroup))
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { mgr.Destroy() })
	// Runs before the undo above: the cgroup still counts its OOM kills.
	defer func() {
		if err != nil {
			err = explainOOMKill(err, mgr, spec)
		}
	}()

	extra := []*os.File{fifo}
	listener, err := openSeccompListener(spec.Linux.Seccomp)
	if err != nil {
		return nil, err
	}
	if listener != nil {
		defer listener.Close()
		extra = append(extra, listener)
	}
	consoleFd := -1
	if spec.Process.Terminal {
		conn := opts.ConsoleConn
		if conn == nil {
			if opts.ConsoleSocket == "" {
				return nil, errdefs.InvalidArgument("process.terminal is true: --console-socket is required")
			}
			conn, err = dialConsoleSocket(opts.ConsoleSocket)
			if err != nil {
				return nil, err
			}
			defer conn.Close()
		}
		extra = append(extra, conn)
		consoleFd = len(extra) - 1
	} else if opts.ConsoleSocket != "" {
		return nil, errdefs.InvalidArgument("--console-socket given but process.terminal is false")
	}

	req := &spawnRequest{
		TimeOffsets: spec.Linux.TimeOffsets,
		UIDMappings: spec.Linux.UIDMappings,
		GIDMappings: spec.Linux.GIDMappings,
		Extra:       extra,
		Stdin:       orFile(opts.Stdin, os.Stdin),
		Stdout:      orFile(opts.Stdout, os.Stdout),
		Stderr:      orFile(opts.Stderr, os.Stderr),
		Cgroup:      mgr,
	}
	for i := 0; i < opts.PreserveFds; i++ {
		req.Preserved = append(req.Preserved, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(3+i)))
	}
	// The user namespace is joined first: put it first.
	for _, ns := range spec.Linux.Namespaces {
		t := specconv.NamespaceTypes[ns.Type]
		if ns.Path == "" {
			req.CloneFlags |= t.Flag
			continue
		}
		j := nsJoin{Type: t.ProcNS, Path: ns.Path}
		if ns.Type == specs.UserNamespace {
			req.Joins = append([]nsJoin{j}, req.Joins...)
		} else {
			req.Joins = append(req.Joins, j)
		}
	}

	tracef("create: cgroup manager")
	sp, err := spawn(req)
	if err != nil {
		return nil, err
	}
	tracef("create: spawned init %d", sp.Pid)
	defer sp.Pipe.Close()
	c.State.InitPid = sp.Pid
	undo = append(undo, func() { killAndWait(sp.Pid) })
	if start, _, err := procStat(sp.Pid); err == nil {
		c.State.InitStart = start
	}
	early, late := splitResources(spec)
	if err := mgr.Set(early); err != nil {
		return nil, err
	}
	tracef("create: cgroup set")
	c.State.CgroupPaths = mgr.Paths()
	c.mgr = mgr
	if err := delegateCgroup(spec, c.State.CgroupPaths[""]); err != nil {
		return nil, err
	}
	c.State.Namespaces = namespacePaths(spec, sp.Pid)

	hooks := spec.Hooks
	cfg := &initConfig{
		Kind: initStandard, ID: id, Spec: spec, Process: spec.Process, Rootfs: spec.Root.Path,
		NoPivot: opts.NoPivot, NoNewKeyring: opts.NoNewKeyring,
		FifoFd: req.childFd(0), ConsoleFd: -1, PreserveFds: opts.PreserveFds,
		HooksSync: hooks != nil && (len(hooks.Prestart) > 0 || len(hooks.CreateRuntime) > 0),
		State:     c.hookState(StatusCreated),
	}
	if consoleFd >= 0 {
		cfg.ConsoleFd = req.childFd(consoleFd)
	}
	cfg.SeccompListenerFd = -1
	if listener != nil {
		cfg.SeccompListenerFd = req.childFd(1)
	}
	if err := bpf.into(cfg, spec.Linux.Seccomp); err != nil {
		return nil, err
	}
	if err := sp.Pipe.sendConfig(cfg); err != nil {
		return nil, fmt.Errorf("send config to init: %w", err)
	}
	if cfg.HooksSync {
		if err := sp.Pipe.expect(msgHooks); err != nil {
			return nil, err
		}
		// The runtime environment exists: the lifecycle's step 2 is done,
		// so the hooks see "created" (as crun reports).
		st := c.hookState(StatusCreated)
		if err := runHooks("prestart", hooks.Prestart, st); err != nil {
			return nil, err
		}
		if err := runHooks("createRuntime", hooks.CreateRuntime, st); err != nil {
			return nil, err
		}
		if err := sp.Pipe.sendType(msgHooksDone); err != nil {
			return nil, err
		}
	}
	if err := sp.Pipe.expect(msgReady); err != nil {
		return nil, err
	}
	// The init now waits on the exec fifo and needs no more threads or
	// CPU of its own: the rest of the limits can bite.
	if late != nil {
		if err := mgr.Set(late); err != nil {
			return nil, err
		}
	}
	tracef("create: init ready")
	if err := c.save(); err != nil {
		return nil, err
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, sp.Pid); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// explainOOMKill names the memory limit when the kernel OOM-killed the
// init during setup: "init exited before ready" alone leaves the user
// guessing, and a limit of a few MiB is the usual cause.
func explainOOMKill(err error, mgr cgroups.Manager, spec *specs.Spec) error {
	n, cerr := mgr.OOMKillCount()
	if cerr != nil || n == 0 {
		return err
	}
	limit := "the memory limit"
	if r := spec.Linux.Resources; r != nil && r.Memory != nil && r.Memory.Limit != nil {
		limit = fmt.Sprintf("linux.resources.memory.limit %d bytes", *r.Memory.Limit)
	}
	return fmt.Errorf("the container's init was killed by the OOM killer while setting up the container: %s is too low (%w)", limit, err)
}

// splitResources divides the limits into those set as soon as the init
// is in its cgroup and those set once it is ready to exec, as runc does
// for all of them. Memory and devices come first: memory cannot be lowered
// below what is in use, and the init's allocations should count. CPU, pids,
// block I/O and the rest come last, so that the runtime's own setup is not
// throttled, and a container with pids.max=1 can still run
// createContainer hooks (children of the init).
func splitResources(spec *specs.Spec) (early, late *specs.LinuxResources) {
	early = &specs.LinuxResources{Devices: deviceRules(spec)}
	r := spec.Linux.Resources
	if r == nil {
		return early, nil
	}
	early.Memory = r.Memory
	rest := *r
	rest.Devices, rest.Memory = nil, nil
	return early, &rest
}

// delegateCgroup hands the container's cgroup v2 directory to the root
// of its user namespace, as the kernel's delegation model describes
// (cgroup-v2.rst, "Delegation"): the directory and its cgroup.procs,
// cgroup.threads and cgroup.subtree_control files. Inside, a container
// with a cgroup namespace can then make and manage sub-cgroups of its own,
// and nothing above it.
func delegateCgroup(spec *specs.Spec, dir string) error {
	if dir == "" {
		return nil
	}
	if _, newUser := specconv.HasNamespace(spec, specs.UserNamespace); !newUser {
		return nil
	}
	uid, uok := hostIDOfRoot(spec.Linux.UIDMappings)
	gid, gok := hostIDOfRoot(spec.Linux.GIDMappings)
	if !uok || !gok {
		return nil // nobody is root in there: nothing to delegate to
	}
	for _, name := range []string{"", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"} {
		path := filepath.Join(dir, name)
		if err := os.Lchown(path, int(uid), int(gid)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("delegate cgroup %s to uid %d: %w", path, uid, err)
		}
	}
	return nil
}

// hostIDOfRoot maps the container's id 0 to the host.
func hostIDOfRoot(ms []specs.LinuxIDMapping) (uint32, bool) {
	for _, m := range ms {
		if m.ContainerID == 0 && m.Size > 0 {
			return m.HostID, true
		}
	}
	return 0, false
}

// namespacePaths records where exec finds each of the container's
// namespaces.
func namespacePaths(spec *specs.Spec, pid int) map[string]string {
	m := map[string]string{}
	for _, ns := range spec.Linux.Namespaces {
		t := specconv.NamespaceTypes[ns.Type]
		if ns.Path != "" {
			m[t.ProcNS] = ns.Path
		} else {
			m[t.ProcNS] = fmt.Sprintf("/proc/%d/ns/%s", pid, t.ProcNS)
		}
	}
	return m
}

func orFile(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return store.WriteFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644)
}

func dialConsoleSocket(path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--console-socket %s: %w", path, err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("--console-socket %s: %w", path, err)
	}
	return f, nil
}

func ownerName() string {
	return strconv.Itoa(os.Geteuid())
}

// killAndWait kills pid and waits until it is dead: reaped by us, gone, or
// a zombie waiting for another parent (it has then left its cgroup).
func killAndWait(pid int) {
	if pid <= 0 {
		return
	}
	unix.Kill(pid, unix.SIGKILL)
	for i := 0; i < 500; i++ {
		var ws unix.WaitStatus
		if wpid, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); wpid == pid {
			return
		}
		if _, zombie, err := procStat(pid); err != nil || zombie {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
