package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/runtime/seccomp"
	"hutch.dev/hutch/runtime/specconv"
)

// standardInit sets up a new container from inside its namespaces, one
// step per line in the order the kernel needs, then waits on the exec fifo
// and execs the container's process.
func standardInit(p *syncPipe, cfg *initConfig) error {
	spec, proc := cfg.Spec, cfg.Process
	hasUser, _ := specconv.HasNamespace(spec, specs.UserNamespace)
	_, newNet := specconv.HasNamespace(spec, specs.NetworkNamespace)
	hasUTS, _ := specconv.HasNamespace(spec, specs.UTSNamespace)
	hasMnt, _ := specconv.HasNamespace(spec, specs.MountNamespace)

	tracef("init: config received")
	// The exec fifo is reopened through /proc/self/fd later, when the root
	// may have no /proc at all: keep the host's /proc at hand. The fd is
	// close-on-exec like every other (closeExecFds).
	procfd, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/proc", Err: err}
	}
	cfg.procFd = procfd
	if newNet {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if proc.Terminal || !cfg.NoNewKeyring {
		// A new session: the terminal becomes ours, and the keyring
		// below is per session.
		unix.Setsid()
	}
	if !cfg.NoNewKeyring {
		// A session keyring of its own, so the container cannot read the
		// host's keys (runc does the same).
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.ID); err != nil && err != unix.ENOSYS && err != unix.EPERM && err != unix.EACCES {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	if hasMnt {
		if err := setupRootfs(p, cfg, hasUser); err != nil {
			return err
		}
	} else if err := enterRootWithoutMountNS(p, cfg); err != nil {
		return err
	}
	tracef("init: rootfs done")
	if proc.Terminal {
		if err := setupConsole(cfg.ConsoleFd, proc.ConsoleSize, hasMnt); err != nil {
			return err
		}
	}
	if hasUTS {
		if err := setHostnames(spec); err != nil {
			return err
		}
	}
	if err := writeSysctls(spec.Linux.Sysctl); err != nil {
		return err
	}
	// Read-only and masked paths come after the sysctls: /proc/sys is
	// read-only in the default config.
	if hasMnt {
		if err := finishRootfs(spec); err != nil {
			return err
		}
	}
	if err := setRlimits(proc, false); err != nil {
		return err
	}
	if err := setOOMScoreAdj(proc); err != nil {
		return err
	}
	if err := setPersonality(spec.Linux); err != nil {
		return err
	}
	if err := setIOPriority(proc); err != nil {
		return err
	}
	if err := setScheduler(proc); err != nil {
		return err
	}
	return finishAndExec(p, cfg)
}

// setupRootfs builds the container's mount tree and switches to it.
func setupRootfs(p *syncPipe, cfg *initConfig, userns bool) error {
	spec := cfg.Spec
	if err := prepareRoot(spec, cfg.Rootfs); err != nil {
		return err
	}
	rootfd, err := unix.Open(cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: cfg.Rootfs, Err: err}
	}
	defer unix.Close(rootfd)
	tracef("init: root prepared")
	if err := mountAll(cfg, rootfd); err != nil {
		return err
	}
	tracef("init: mounts done")
	if !devIsHostBind(spec) {
		if err := createDevices(spec, rootfd, userns); err != nil {
			return err
		}
	}
	if err := hooksSync(p, cfg); err != nil {
		return err
	}
	if spec.Hooks != nil && len(spec.Hooks.CreateContainer) > 0 {
		if err := runHooks("createContainer", spec.Hooks.CreateContainer, cfg.State); err != nil {
			return err
		}
	}
	tracef("init: devices and hooks done")
	if cfg.NoPivot {
		err = moveRoot(cfg.Rootfs)
	} else {
		err = pivotRoot(cfg.Rootfs)
	}
	return err
}

// enterRootWithoutMountNS: a container sharing the host's mount namespace
// can only be given its root with chroot (as runc and crun do); no mount
// is made, since it would land on the host.
func enterRootWithoutMountNS(p *syncPipe, cfg *initConfig) error {
	if err := hooksSync(p, cfg); err != nil {
		return err
	}
	if h := cfg.Spec.Hooks; h != nil && len(h.CreateContainer) > 0 {
		if err := runHooks("createContainer", h.CreateContainer, cfg.State); err != nil {
			return err
		}
	}
	if err := unix.Chroot(cfg.Rootfs); err != nil {
		return &os.PathError{Op: "chroot", Path: cfg.Rootfs, Err: err}
	}
	return unix.Chdir("/")
}

// hooksSync lets the parent run prestart and createRuntime hooks while the
// namespaces exist and the root is not yet switched.
func hooksSync(p *syncPipe, cfg *initConfig) error {
	if !cfg.HooksSync {
		return nil
	}
	if err := p.sendType(msgHooks); err != nil {
		return err
	}
	return p.expect(msgHooksDone)
}

// devIsHostBind: a container that bind-mounts the host's /dev gets no
// device nodes of ours (they would land on the host).
func devIsHostBind(spec *specs.Spec) bool {
	for _, m := range spec.Mounts {
		if m.Destination == "/dev" {
			mo := specconv.ParseMountOptions(m.Options)
			return mo.Bind || m.Type == "bind"
		}
	}
	return false
}

func setHostnames(spec *specs.Spec) error {
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("domainname %q: %w", spec.Domainname, err)
		}
	}
	return nil
}

func writeSysctls(sysctl map[string]string) error {
	for k, v := range sysctl {
		path := "/proc/sys/" + dotsToSlashes(k)
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmt.Errorf("linux.sysctl %s=%s: %w", k, v, unwrapPathErr(err))
		}
	}
	return nil
}

func dotsToSlashes(k string) string {
	b := []byte(k)
	for i, c := range b {
		switch c {
		case '.':
			b[i] = '/'
		case '/':
			b[i] = '.'
		}
	}
	return string(b)
}

// finishAndExec is the common tail of both inits: credentials, seccomp,
// no_new_privs, the fds, then (standard init only) the exec fifo and the
// startContainer hooks, and execve.
func finishAndExec(p *syncPipe, cfg *initConfig) error {
	proc := cfg.Process
	// Everything that can fail because of the config is checked before
	// the container is reported created.
	path, err := lookPath(proc)
	if err != nil {
		return err
	}
	if err := checkCwd(proc.Cwd); err != nil {
		return err
	}
	sc, err := newSeccompLoader(cfg)
	if err != nil {
		return err
	}
	if cfg.Kind == initStandard {
		if err := waitForStart(p, cfg); err != nil {
			return err
		}
	}
	if err := closeExecFds(3 + cfg.PreserveFds); err != nil {
		return err
	}
	if err := setRlimits(proc, true); err != nil {
		return err
	}
	// The filter goes in as late as possible, so that the profile need
	// not allow the runtime's own syscalls, and no Go thread is started
	// under it (glibc's rseq registration in a new thread may be refused).
	// Without no_new_privs, loading it needs CAP_SYS_ADMIN: that is before
	// the capabilities are dropped.
	if sc != nil && !proc.NoNewPrivileges {
		if err := sc.load(); err != nil {
			return err
		}
	}
	if err := setCredentials(proc); err != nil {
		return err
	}
	if err := enterCwd(proc.Cwd); err != nil {
		return err
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
		if sc != nil {
			if err := sc.load(); err != nil {
				return err
			}
		}
	}
	// For exec, the parent learns of success when the close-on-exec
	// socket closes.
	return execProcess(path, proc)
}

// waitForStart reports the container created and blocks on the exec fifo
// until `start` opens it, then runs the startContainer hooks.
func waitForStart(p *syncPipe, cfg *initConfig) error {
	tracef("init: ready")
	if err := p.sendType(msgReady); err != nil {
		return err
	}
	fifo, err := unix.Openat(cfg.procFd, "self/fd/"+strconv.Itoa(cfg.FifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	// The host's /proc is not needed any more; keep no handle on it.
	unix.Close(cfg.procFd)
	cfg.procFd = -1
	if _, err := unix.Write(fifo, []byte{'0'}); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	// The fifo stays open, close-on-exec: `start` reads EOF when execve
	// closes it, and only then runs the poststart hooks.
	// From here on nobody reads the sync socket: errors go to stderr.
	p.started = true
	if h := cfg.Spec.Hooks; h != nil && len(h.StartContainer) > 0 {
		st := *cfg.State
		st.Status = StatusRunning
		if err := runHooks("startContainer", h.StartContainer, &st); err != nil {
			return err
		}
	}
	return nil
}

// enterCwd changes to the process's working directory and makes sure it
// lies inside the root. CVE-2024-21626: a cwd such as /proc/self/fd/N
// naming an fd the runtime still holds would put the process in a host
// directory; the kernel reports such a cwd as "(unreachable)/...".
func enterCwd(cwd string) error {
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("process.cwd %q: %w", cwd, err)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Getcwd(buf)
	if err != nil {
		return fmt.Errorf("process.cwd %q: getcwd: %w", cwd, err)
	}
	if n == 0 || buf[0] != '/' {
		return fmt.Errorf("process.cwd %q: lies outside the container's root", cwd)
	}
	return nil
}

// checkCwd makes a missing working directory a create-time error.
func checkCwd(cwd string) error {
	var st unix.Stat_t
	if err := unix.Stat(cwd, &st); err != nil {
		return fmt.Errorf("process.cwd %q: %w", cwd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("process.cwd %q: not a directory", cwd)
	}
	return nil
}

// seccompLoader loads the filter the parent compiled and, for
// SCMP_ACT_NOTIFY, hands the listener fd to the agent. The parent opened
// the agent's socket (O_PATH) on the host and passed it down: from inside
// the container its path may be out of reach, but connecting through
// /proc/self/fd/N still works.
type seccompLoader struct {
	prog seccomp.Program
	cfg  *initConfig
}

func newSeccompLoader(cfg *initConfig) (*seccompLoader, error) {
	if len(cfg.SeccompBPF) == 0 {
		return nil, nil
	}
	l := &seccompLoader{cfg: cfg}
	if err := l.prog.UnmarshalBinary(cfg.SeccompBPF); err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	return l, nil
}

func (l *seccompLoader) load() error {
	fd, err := l.prog.Load()
	if err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	if l.cfg.SeccompListenerFd < 0 {
		return fmt.Errorf("linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath")
	}
	st := specs.ContainerProcessState{
		Version: specs.Version, Fds: []string{specs.SeccompFdName}, Pid: l.cfg.State.Pid,
		Metadata: l.cfg.SeccompMetadata, State: *l.cfg.State,
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := seccomp.SendListenerFd(fdPath(l.cfg.SeccompListenerFd), fd, data); err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath: %w", err)
	}
	return nil
}
