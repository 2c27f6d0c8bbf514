package runccli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime"
)

type execFlags struct {
	process       string
	tty           bool
	cwd           string
	env           []string
	user          string
	addGids       []string
	caps          []string
	noNewPrivs    bool
	detach        bool
	pidFile       string
	consoleSocket string
	preserveFds   int
	apparmor      string
	label         string
	// stdin replaces our stdin for the process (engine exec without -i).
	stdin        *os.File
	ignorePaused bool
}

func (g *runcGlobals) execCmd() *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec [flags] CONTAINER_ID [COMMAND [ARGS...]]",
		Short: "Run a new process inside a container",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || (f.process == "" && len(args) < 2) {
				return errdefs.InvalidArgument("exec: expects a container id and a command (or --process FILE)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				return err
			}
			p, err := f.buildProcess(c, args[1:], cmd)
			if err != nil {
				return err
			}
			code, err := runExec(c, p, &f)
			if err != nil {
				return err
			}
			if code != 0 {
				return &cli.ExitCodeError{Code: code}
			}
			return nil
		},
	}
	// Everything after the container id belongs to the command.
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.StringVarP(&f.process, "process", "p", "", "JSON file with the process to run (runtime-spec process)")
	fl.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-terminal")
	fl.StringVar(&f.cwd, "cwd", "", "working directory in the container")
	cli.ListVarP(fl, &f.env, "env", "e", "set an environment variable (KEY=VALUE)")
	fl.StringVarP(&f.user, "user", "u", "", "UID[:GID] to run as")
	cli.ListVarP(fl, &f.addGids, "additional-gids", "g", "additional group ids")
	cli.ListVarP(fl, &f.caps, "cap", "c", "add a capability")
	fl.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs")
	fl.BoolVarP(&f.detach, "detach", "d", false, "do not wait for the process")
	fl.StringVar(&f.pidFile, "pid-file", "", "file to write the process's pid to")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	fl.IntVar(&f.preserveFds, "preserve-fds", 0, "pass this many extra fds to the process")
	fl.StringVar(&f.apparmor, "apparmor", "", "AppArmor profile (not supported here: must be empty)")
	fl.StringVar(&f.label, "process-label", "", "SELinux label (not supported here: must be empty)")
	fl.BoolVar(&f.ignorePaused, "ignore-paused", false, "accepted for runc compatibility")
	return cmd
}

// buildProcess makes the process from --process, or from the container's
// own process with the flags applied, as runc does.
func (f *execFlags) buildProcess(c *runtime.Container, args []string, cmd *cobra.Command) (*specs.Process, error) {
	if f.apparmor != "" || f.label != "" {
		return nil, errdefs.NotImplemented("exec: --apparmor and --process-label are not supported")
	}
	if f.process != "" {
		data, err := os.ReadFile(f.process)
		if err != nil {
			return nil, fmt.Errorf("--process %s: %w", f.process, err)
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, errdefs.InvalidArgument("--process %s: not valid JSON: %v", f.process, err)
		}
		return &p, nil
	}
	base := c.State.Config.Process
	p := &specs.Process{
		Args: args, Env: append([]string{}, base.Env...), Cwd: base.Cwd, User: base.User,
		Capabilities: base.Capabilities, NoNewPrivileges: base.NoNewPrivileges || f.noNewPrivs,
		Rlimits: base.Rlimits, Terminal: f.tty, OOMScoreAdj: base.OOMScoreAdj,
	}
	p.Env = append(p.Env, f.env...)
	if f.cwd != "" {
		p.Cwd = f.cwd
	}
	if f.user != "" {
		uid, gid, hasGid := strings.Cut(f.user, ":")
		u, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, errdefs.InvalidArgument("--user %q: expects UID[:GID]", f.user)
		}
		p.User = specs.User{UID: uint32(u)}
		if hasGid {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, errdefs.InvalidArgument("--user %q: expects UID[:GID]", f.user)
			}
			p.User.GID = uint32(g)
		}
	}
	for _, s := range f.addGids {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, errdefs.InvalidArgument("--additional-gids %q: not a number", s)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if len(f.caps) > 0 {
		caps := specs.LinuxCapabilities{}
		if base.Capabilities != nil {
			caps = *base.Capabilities
		}
		add := func(list []string, c string) []string {
			for _, x := range list {
				if x == c {
					return list
				}
			}
			return append(list, c)
		}
		for _, c := range f.caps {
			c = strings.ToUpper(c)
			if !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			caps.Bounding = add(caps.Bounding, c)
			caps.Effective = add(caps.Effective, c)
			caps.Permitted = add(caps.Permitted, c)
			caps.Inheritable = add(caps.Inheritable, c)
			caps.Ambient = add(caps.Ambient, c)
		}
		p.Capabilities = &caps
	}
	return p, nil
}

func runExec(c *runtime.Container, p *specs.Process, f *execFlags) (int, error) {
	opts := runtime.ExecOptions{Process: p, ConsoleSocket: f.consoleSocket, PidFile: f.pidFile, PreserveFds: f.preserveFds, Stdin: f.stdin}
	var relay *ttyRelay
	if p.Terminal && f.consoleSocket == "" {
		if f.detach {
			return 0, errdefs.InvalidArgument("exec: --tty with --detach needs --console-socket")
		}
		var err error
		if relay, err = newTTYRelay(); err != nil {
			return 0, err
		}
		defer relay.Close()
		opts.ConsoleConn = relay.remote
	}
	var sigs chan os.Signal
	if !f.detach {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
		}
		sigs = make(chan os.Signal, 128)
		registered := notifyAll(sigs)
		defer func() { registered(); signal.Stop(sigs) }()
	}
	pid, err := c.Exec(opts)
	if err != nil {
		return 0, err
	}
	if relay != nil {
		if err := relay.receive(); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			return 0, err
		}
	}
	if f.detach {
		return 0, nil
	}
	code := waitProcess(pid, sigs, relay)
	if relay != nil {
		relay.drain()
	}
	return code, nil
}

// ExecOptions are what `hutch exec` sets of an exec in the foreground.
type ExecOptions struct {
	Detach bool
	// Stdin replaces our stdin for the process (nil: ours).
	Stdin *os.File
}

// Exec runs p in the container as `hutch-runc exec` does: in the
// foreground as the subreaper with signals forwarded and a terminal
// relayed, or detached. It returns the process's exit status.
func Exec(c *runtime.Container, p *specs.Process, o ExecOptions) (int, error) {
	return runExec(c, p, &execFlags{detach: o.Detach, stdin: o.Stdin})
}
