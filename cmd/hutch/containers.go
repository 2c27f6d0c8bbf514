package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/engine"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image/registry"
	"hutch.dev/hutch/internal/runflags"
	"hutch.dev/hutch/network"
)

// addContainerCommands registers the container verbs at the top level, as
// Docker has them, and under `hutch container`.
func addContainerCommands(root *cobra.Command, g *globals) {
	ctrCmd := &cobra.Command{Use: "container", Short: "Manage containers"}
	makers := []func(*globals) *cobra.Command{
		runCommand, createCommand, startCommand, stopCommand, killCommand, rmCommand,
		psCommand, logsCommand, waitCommand, execCommand, attachCommand,
	}
	for _, mk := range append(makers, moreContainerCommands...) {
		root.AddCommand(mk(g))
		sub := mk(g)
		switch sub.Name() {
		case "ps":
			sub.Use, sub.Aliases = "ls [OPTIONS]", []string{"list", "ps"}
		}
		ctrCmd.AddCommand(sub)
	}
	ctrCmd.AddCommand(containerInspectCommand(g))
	for _, mk := range containerOnlyCommands {
		ctrCmd.AddCommand(mk(g))
	}
	root.AddCommand(ctrCmd, monitorCommand(g), anyInspectCommand(g))
	for _, mk := range moreTopCommands {
		root.AddCommand(mk(g))
	}
}

// moreContainerCommands are container verbs that files of their own add
// (in an init function), each at the top level and under `hutch container`.
var moreContainerCommands []func(*globals) *cobra.Command

// containerOnlyCommands exist only under `hutch container` (Docker has
// `container prune` but no top-level `prune`).
var containerOnlyCommands []func(*globals) *cobra.Command

// moreTopCommands are other top-level commands added the same way
// (volume, system, info, version ...).
var moreTopCommands []func(*globals) *cobra.Command

func (g *globals) engine() *engine.Engine {
	return engine.New(g.root, g.runroot, g.storageDriver)
}

// createFlags are the flags `create` and `run` share.
type createFlags struct {
	name, hostname, workdir, user, entrypoint, platform, pull string
	env, envFiles, labels, labelFiles, logOpts                []string
	interactive, tty, rm, readOnly                            bool
	restart, stopSignal                                       string
	stopTimeout                                               int
	memory, memorySwap, cpus, cpusetCpus                      string
	cpuShares, pidsLimit                                      int64
	network                                                   string
	registry                                                  registryFlags

	privileged, init                                        bool
	domainname, shmSize, memoryReservation, cpusetMems      string
	pid, ipc, uts, cgroupns, userns                         string
	capAdd, capDrop, securityOpt, ulimits, devices, sysctls []string
	groupAdd, tmpfs, volumes, mounts                        []string
	oomScoreAdj                                             int
	health                                                  runflags.HealthcheckFlags
	blkioWeight                                             uint16
	publish, aliases                                        []string
	publishAll                                              bool
	ip, mac                                                 string
	dns, dnsSearch, dnsOptions, addHosts                    []string
}

func (f *createFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.SetInterspersed(false) // flags after the image belong to the command
	fs.StringVar(&f.name, "name", "", "assign a name to the container")
	fs.StringVarP(&f.hostname, "hostname", "h", "", "container host name")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "user name or UID, and optionally group (user[:group])")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "overwrite the image's ENTRYPOINT")
	fs.StringVar(&f.platform, "platform", "", "platform of the image to pull (os/arch[/variant])")
	fs.StringVar(&f.pull, "pull", "missing", "pull the image: missing, always or never")
	cli.ListVarP(fs, &f.env, "env", "e", "set environment variables (KEY=VALUE, or KEY to take the host's)")
	cli.ListVarP(fs, &f.envFiles, "env-file", "", "read environment variables from a file")
	cli.ListVarP(fs, &f.labels, "label", "l", "set metadata (KEY=VALUE)")
	cli.ListVarP(fs, &f.labelFiles, "label-file", "", "read labels from a file")
	cli.ListVarP(fs, &f.logOpts, "log-opt", "", "log driver options (max-size, max-file)")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "keep STDIN open")
	fs.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-TTY")
	fs.BoolVar(&f.rm, "rm", false, "remove the container when it exits")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount the container's root filesystem read-only")
	fs.StringVar(&f.restart, "restart", "no", "restart policy: no, on-failure[:N], always, unless-stopped")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "signal to stop the container")
	fs.IntVar(&f.stopTimeout, "stop-timeout", -1, "seconds to wait for the stop signal before killing")
	fs.StringVarP(&f.memory, "memory", "m", "", "memory limit")
	fs.StringVar(&f.memorySwap, "memory-swap", "", "memory plus swap limit (-1: unlimited swap)")
	fs.StringVar(&f.cpus, "cpus", "", "number of CPUs")
	fs.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.Int64VarP(&f.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "tune the container's pids limit (-1 for unlimited)")
	fs.StringVar(&f.network, "network", "bridge", "network: bridge (default), host, none, container:NAME, or a network's name")
	fs.StringVar(&f.network, "net", "bridge", "same as --network")
	fs.Lookup("net").Hidden = true
	cli.ListVarP(fs, &f.publish, "publish", "p", "publish a container's port to the host ([IP:][HOSTPORT:]CPORT[/PROTO])")
	fs.BoolVarP(&f.publishAll, "publish-all", "P", false, "publish every exposed port to a random host port")
	fs.StringVar(&f.ip, "ip", "", "IPv4 address on the network")
	fs.StringVar(&f.mac, "mac-address", "", "MAC address of the container's interface")
	cli.ListVarP(fs, &f.aliases, "network-alias", "", "other names of the container on its network")
	f.addDNSFlags(fs)
	fs.BoolVar(&f.privileged, "privileged", false, "give extended privileges to this container")
	fs.BoolVar(&f.init, "init", false, "run an init inside the container that forwards signals and reaps processes")
	fs.StringVar(&f.domainname, "domainname", "", "container NIS domain name")
	fs.StringVar(&f.shmSize, "shm-size", "", "size of /dev/shm (default 64m)")
	fs.StringVar(&f.memoryReservation, "memory-reservation", "", "memory soft limit")
	fs.StringVar(&f.cpusetMems, "cpuset-mems", "", "memory nodes in which to allow execution (0-3, 0,1)")
	fs.StringVar(&f.pid, "pid", "", "PID namespace: host, container:NAME")
	fs.StringVar(&f.ipc, "ipc", "", "IPC namespace: host, container:NAME, private, shareable")
	fs.StringVar(&f.uts, "uts", "", "UTS namespace: host")
	fs.StringVar(&f.cgroupns, "cgroupns", "", "cgroup namespace: host or private")
	fs.StringVar(&f.userns, "userns", "", "user namespace: host (Docker's only value; the default)")
	cli.ListVarP(fs, &f.capAdd, "cap-add", "", "add Linux capabilities")
	cli.ListVarP(fs, &f.capDrop, "cap-drop", "", "drop Linux capabilities")
	cli.ListVarP(fs, &f.securityOpt, "security-opt", "", "security options: no-new-privileges, seccomp=PROFILE|unconfined")
	cli.ListVarP(fs, &f.ulimits, "ulimit", "", "ulimit options (nofile=1024:2048)")
	cli.ListVarP(fs, &f.devices, "device", "", "add a host device to the container (HOST[:CONTAINER[:rwm]])")
	cli.ListVarP(fs, &f.sysctls, "sysctl", "", "namespaced kernel parameters (net.ipv4.ip_forward=1)")
	cli.ListVarP(fs, &f.groupAdd, "group-add", "", "additional groups to join")
	cli.ListVarP(fs, &f.tmpfs, "tmpfs", "", "mount a tmpfs directory (/run:rw,size=64m)")
	cli.ListVarP(fs, &f.volumes, "volume", "v", "bind mount a volume (/host:/ctr[:ro], name:/ctr, /ctr)")
	cli.ListVarP(fs, &f.mounts, "mount", "", "attach a filesystem mount (type=bind|volume|tmpfs,source=,target=,readonly)")
	fs.IntVar(&f.oomScoreAdj, "oom-score-adj", 0, "tune the host's OOM preferences (-1000 to 1000)")
	fs.Uint16Var(&f.blkioWeight, "blkio-weight", 0, "block IO weight (10 to 1000, 0 to disable)")
	fs.StringVar(&f.health.Cmd, "health-cmd", "", "command to run to check health")
	fs.StringVar(&f.health.Interval, "health-interval", "", "time between running the check (default 30s)")
	fs.StringVar(&f.health.Timeout, "health-timeout", "", "maximum time to allow one check to run (default 30s)")
	fs.StringVar(&f.health.StartPeriod, "health-start-period", "", "start period for the container to initialize before counting retries")
	fs.StringVar(&f.health.Retries, "health-retries", "", "consecutive failures needed to report unhealthy (default 3)")
	fs.BoolVar(&f.health.None, "no-healthcheck", false, "disable any container-specified HEALTHCHECK")
	// Docker's -h is --hostname; help keeps only --help.
	fs.Bool("help", false, "help for "+cmd.Name())
	f.registry.add(cmd)
}

// options turns the flags and the positional IMAGE [COMMAND...] into
// engine options; every refused value names its flag.
func (f *createFlags) options(cmd *cobra.Command, args []string) (*engine.CreateOptions, error) {
	o := &engine.CreateOptions{Image: args[0], Name: f.name, Platform: f.platform, Pull: f.pull}
	fs := cmd.Flags()
	if len(args) > 1 {
		o.Config.Cmd = args[1:]
	}
	if fs.Changed("entrypoint") {
		o.EntrypointSet = true
		if f.entrypoint != "" {
			o.Config.Entrypoint = []string{f.entrypoint}
		}
	}
	o.Config.Hostname = f.hostname
	o.Config.WorkingDir = f.workdir
	if f.workdir != "" && !strings.HasPrefix(f.workdir, "/") {
		return nil, errdefs.InvalidArgument("invalid argument %q for \"-w, --workdir\" flag: the working directory must be an absolute path", f.workdir)
	}
	o.Config.User = f.user
	o.Config.Tty = f.tty
	o.Config.OpenStdin = f.interactive
	var env []string
	for _, file := range f.envFiles {
		kv, err := runflags.ParseEnvFile(file)
		if err != nil {
			return nil, err
		}
		env = append(env, kv...)
	}
	kv, err := runflags.ParseEnv(f.env)
	if err != nil {
		return nil, err
	}
	o.Config.Env = append(env, kv...)
	var labels []string
	for _, file := range f.labelFiles {
		l, err := runflags.ParseLabelFile(file)
		if err != nil {
			return nil, err
		}
		labels = append(labels, l...)
	}
	if o.Config.Labels, err = runflags.ParseLabels(append(labels, f.labels...)); err != nil {
		return nil, err
	}
	if f.stopSignal != "" {
		if _, err := runflags.ParseStopSignal(f.stopSignal); err != nil {
			return nil, err
		}
		o.Config.StopSignal = f.stopSignal
	}
	if fs.Changed("stop-timeout") {
		t := f.stopTimeout
		o.Config.StopTimeout = &t
	}
	h := &o.HostConfig
	h.AutoRemove = f.rm
	h.ReadonlyRootfs = f.readOnly
	rp, err := runflags.ParseRestart(f.restart)
	if err != nil {
		return nil, err
	}
	if rp.Name != runflags.RestartNo && f.rm {
		return nil, errdefs.InvalidArgument("conflicting options: cannot specify both --restart and --rm")
	}
	h.RestartPolicy = engine.RestartPolicy{Name: rp.Name, MaximumRetryCount: rp.MaximumRetryCount}
	lo, err := runflags.ParseLogOpts(f.logOpts)
	if err != nil {
		return nil, err
	}
	h.LogConfig = engine.LogConfig{Type: "json-file", Config: map[string]string{}}
	for _, kv := range f.logOpts {
		k, v, _ := strings.Cut(kv, "=")
		h.LogConfig.Config[k] = v
	}
	_ = lo
	if f.memory != "" {
		if h.Memory, err = runflags.ParseSize(f.memory); err != nil {
			return nil, runflags.WithFlag(err, "-m, --memory")
		}
	}
	if f.memorySwap != "" {
		if h.MemorySwap, err = runflags.ParseMemorySwap(f.memorySwap); err != nil {
			return nil, runflags.WithFlag(err, "--memory-swap")
		}
	}
	if f.cpus != "" {
		if h.NanoCpus, err = runflags.ParseCPUs(f.cpus); err != nil {
			return nil, err
		}
	}
	h.CpuShares = f.cpuShares
	h.CpusetCpus = f.cpusetCpus
	if fs.Changed("pids-limit") {
		p := f.pidsLimit
		h.PidsLimit = &p
	}
	if err := f.networkOptions(o); err != nil {
		return nil, err
	}
	if err := f.dnsFlags(o); err != nil {
		return nil, err
	}
	if err := f.moreOptions(cmd, o); err != nil {
		return nil, err
	}
	return o, nil
}

// pullFunc pulls a missing image with the same output as `hutch pull`.
func (f *createFlags) pullFunc(g *globals, cmd *cobra.Command) engine.PullFunc {
	return func(ctx context.Context, ref, platform string) error {
		o := f.registry.options(cmd)
		if platform != "" {
			p, err := parsePlatform(platform)
			if err != nil {
				return err
			}
			o.Platform = p
		}
		s, err := openStoreToAdd(g)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", ref)
		prog := newProgress(os.Stderr, false)
		o.Progress = prog.update
		_, err = registry.Pull(ctx, s, ref, o)
		prog.finish()
		return err
	}
}

func createCommand(g *globals) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd, args)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			c, err := g.engine().Create(ctx, o, f.pullFunc(g, cmd))
			if err != nil {
				return err
			}
			fmt.Println(c.ID)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func runCommand(g *globals) *cobra.Command {
	var f createFlags
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd, args)
			if err != nil {
				return err
			}
			if detach && f.rm && false {
				return nil
			}
			ctx, cancel := signalContext()
			e := g.engine()
			c, err := e.Create(ctx, o, f.pullFunc(g, cmd))
			cancel()
			if err != nil {
				return err
			}
			if detach {
				if _, err := e.Start(context.Background(), c.ID, engine.StartOptions{}); err != nil {
					if f.rm {
						e.Remove(context.Background(), c.ID, true, true)
					}
					return startError(err)
				}
				fmt.Println(c.ID)
				return nil
			}
			code, err := startAttached(e, c, f.interactive, f.tty)
			if err != nil {
				if f.rm {
					e.Remove(context.Background(), c.ID, true, true)
				}
				return err
			}
			return &cli.ExitCodeError{Code: code}
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run the container in the background and print its ID")
	return cmd
}

// startError gives the exit code Docker gives when the container's
// command cannot be run: 127 not found, 126 not executable.
func startError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return &cli.ExitCodeError{Code: 127, Err: err}
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "exec format error"):
		return &cli.ExitCodeError{Code: 126, Err: err}
	}
	return err
}

func startCommand(g *globals) *cobra.Command {
	var attach, interactive, all bool
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			if all {
				return startAll(e)
			}
			if len(args) == 0 {
				return errdefs.InvalidArgument("\"start\" requires at least 1 argument (or --all)")
			}
			if attach || interactive {
				if len(args) != 1 {
					return errdefs.InvalidArgument("you cannot start and attach multiple containers at once")
				}
				c, err := e.Inspect(args[0])
				if err != nil {
					return err
				}
				code, err := startAttached(e, c, interactive && c.Config.OpenStdin, c.Config.Tty)
				if err != nil {
					return err
				}
				return &cli.ExitCodeError{Code: code}
			}
			return eachContainer(args, func(ref string) error {
				_, err := e.Start(context.Background(), ref, engine.StartOptions{})
				if err != nil {
					return startError(err)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "attach the container's STDIN")
	cmd.Flags().BoolVar(&all, "all", false, "start every container whose restart policy is always or unless-stopped (after a reboot)")
	return cmd
}

// startAll brings back what a reboot stopped: containers with restart
// policy always, and unless-stopped ones the user did not stop.
func startAll(e *engine.Engine) error {
	cs, err := e.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		p := c.HostConfig.RestartPolicy.Name
		if c.State.Running || !(p == "always" || (p == "unless-stopped" && !c.State.StoppedByUser)) {
			continue
		}
		if _, err := e.Start(context.Background(), c.ID, engine.StartOptions{}); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Println(c.Name)
	}
	return lastOf(errs)
}

func stopCommand(g *globals) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d := stopTimeout(cmd, timeout)
			e := g.engine()
			return eachContainer(args, func(ref string) error {
				_, err := e.Stop(context.Background(), ref, d, signal)
				return err
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "signal to send (default: the container's stop signal, else SIGTERM)")
	return cmd
}

// stopTimeout reads stop's and restart's -t: nil when not given (the
// container's own grace period), a negative one to wait without end.
func stopTimeout(cmd *cobra.Command, seconds int) *time.Duration {
	if !cmd.Flags().Changed("time") {
		return nil
	}
	t := time.Duration(seconds) * time.Second
	if seconds < 0 {
		t = -1
	}
	return &t
}

func killCommand(g *globals) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			return eachContainer(args, func(ref string) error {
				_, err := e.Kill(context.Background(), ref, signal)
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL", "signal to send")
	return cmd
}

func rmCommand(g *globals) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			return eachContainer(args, func(ref string) error {
				return e.Remove(context.Background(), ref, force, volumes)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force the removal of a running container (SIGKILL)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove anonymous volumes of the container")
	return cmd
}

func waitCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			ctx, cancel := signalContext()
			defer cancel()
			var errs []error
			for _, ref := range args {
				code, err := e.Wait(ctx, ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Println(code)
			}
			return lastOf(errs)
		},
	}
}

// monitorCommand is the hidden `hutch monitor ID`, started by the engine;
// `--resume` is the relay handing back after the init exited, and the
// relay's healthchecks come as `monitor ID` with _HUTCH_RELAY_ACTION=health.
func monitorCommand(g *globals) *cobra.Command {
	var size string
	var resume bool
	cmd := &cobra.Command{
		Use:    "monitor ID",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			switch os.Getenv("_HUTCH_RELAY_ACTION") {
			case "health":
				ctx, cancel := signalContext()
				defer cancel()
				e.Healthcheck(ctx, args[0])
				os.Exit(0)
			case "exit":
				code, _ := strconv.Atoi(os.Getenv("_HUTCH_RELAY_STATUS"))
				logFd, err := strconv.Atoi(os.Getenv("_HUTCH_RELAY_LOG"))
				if err != nil {
					logFd = -1
				}
				os.Exit(e.RunMonitor(args[0], engine.MonitorOptions{Resume: true, ExitCode: code, LogFd: logFd}))
			}
			if resume {
				return errdefs.InvalidArgument("monitor --resume: only the relay resumes a monitor")
			}
			var o engine.MonitorOptions
			fmt.Sscanf(size, "%d,%d", &o.ConsoleSize[0], &o.ConsoleSize[1])
			o.Sync = os.NewFile(3, "sync")
			if f := os.NewFile(4, "attach"); f != nil {
				if _, err := f.Stat(); err == nil {
					o.Attach = f
				}
			}
			os.Exit(e.RunMonitor(args[0], o))
			return nil
		},
	}
	cmd.Flags().StringVar(&size, "console-size", "", "rows,cols of the caller's terminal")
	cmd.Flags().BoolVar(&resume, "resume", false, "taken back from the relay")
	return cmd
}

// moreOptions reads the security, device, namespace and limit flags.
func (f *createFlags) moreOptions(cmd *cobra.Command, o *engine.CreateOptions) error {
	h, x := &o.HostConfig, &o.Extra
	fs := cmd.Flags()
	h.Privileged, h.Init = f.privileged, f.init
	o.Config.Domainname = f.domainname
	h.CapAdd, h.CapDrop = f.capAdd, f.capDrop
	for _, opt := range f.securityOpt {
		if _, _, err := engine.ParseSecurityOpt(opt); err != nil {
			return err
		}
	}
	h.SecurityOpt = f.securityOpt
	var err error
	if f.shmSize != "" {
		if x.ShmSize, err = runflags.ParseSize(f.shmSize); err != nil {
			return runflags.WithFlag(err, "--shm-size")
		}
	}
	if f.memoryReservation != "" {
		if x.MemoryReserve, err = runflags.ParseSize(f.memoryReservation); err != nil {
			return runflags.WithFlag(err, "--memory-reservation")
		}
	}
	x.CpusetMems = f.cpusetMems
	if fs.Changed("oom-score-adj") {
		if f.oomScoreAdj < -1000 || f.oomScoreAdj > 1000 {
			return errdefs.InvalidArgument("invalid argument \"%d\" for \"--oom-score-adj\" flag: must be between -1000 and 1000", f.oomScoreAdj)
		}
		v := f.oomScoreAdj
		x.OomScoreAdj = &v
	}
	if f.blkioWeight != 0 && (f.blkioWeight < 10 || f.blkioWeight > 1000) {
		return errdefs.InvalidArgument("invalid argument \"%d\" for \"--blkio-weight\" flag: must be between 10 and 1000", f.blkioWeight)
	}
	h.BlkioWeight = f.blkioWeight
	for _, u := range f.ulimits {
		ul, err := runflags.ParseUlimit(u)
		if err != nil {
			return err
		}
		x.Ulimits = append(x.Ulimits, engine.Ulimit{Name: ul.Name, Soft: rlim(ul.Soft), Hard: rlim(ul.Hard)})
	}
	for _, d := range f.devices {
		dev, err := runflags.ParseDevice(d)
		if err != nil {
			return err
		}
		x.Devices = append(x.Devices, engine.Device{PathOnHost: dev.PathOnHost, PathInContainer: dev.PathInContainer, CgroupPermissions: dev.Permissions})
	}
	if len(f.sysctls) > 0 {
		x.Sysctls = map[string]string{}
		for _, kv := range f.sysctls {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return errdefs.InvalidArgument("invalid argument %q for \"--sysctl\" flag: want KEY=VALUE", kv)
			}
			x.Sysctls[k] = v
		}
	}
	x.GroupAdd = f.groupAdd
	hc, err := runflags.ParseHealthcheck(f.health)
	if err != nil {
		return err
	}
	if hc != nil {
		o.Config.Healthcheck = &engine.Healthcheck{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout,
			StartPeriod: hc.StartPeriod, Retries: hc.Retries}
	}
	for _, t := range f.tmpfs {
		tm, err := runflags.ParseTmpfs(t)
		if err != nil {
			return err
		}
		o.Mounts = append(o.Mounts, engine.MountRequest{Type: runflags.TypeTmpfs, Destination: tm.Destination, Options: tm.Options})
		if h.Tmpfs == nil {
			h.Tmpfs = map[string]string{}
		}
		h.Tmpfs[tm.Destination] = strings.Join(tm.Options, ",")
	}
	for _, v := range f.volumes {
		vol, err := runflags.ParseVolume(v)
		if err != nil {
			return err
		}
		h.Binds = append(h.Binds, v)
		o.Mounts = append(o.Mounts, engine.MountRequest{Type: vol.Type, Source: vol.Source, Destination: vol.Destination,
			ReadOnly: vol.ReadOnly, Propagation: vol.Propagation, NoCopy: vol.NoCopy, CreateSource: true})
	}
	for _, v := range f.mounts {
		m, err := runflags.ParseMount(v)
		if err != nil {
			return err
		}
		req := engine.MountRequest{Type: m.Type, Source: m.Source, Destination: m.Target, ReadOnly: m.ReadOnly,
			Propagation: m.Propagation, NoCopy: m.NoCopy, CreateSource: m.CreateSource}
		if m.Type == runflags.TypeTmpfs {
			if m.TmpfsSize > 0 {
				req.Options = append(req.Options, fmt.Sprintf("size=%d", m.TmpfsSize))
			}
			if m.TmpfsMode != 0 {
				req.Options = append(req.Options, fmt.Sprintf("mode=%o", m.TmpfsMode))
			}
		}
		o.Mounts = append(o.Mounts, req)
	}
	if m, err := runflags.ParseUserNS(f.userns); err != nil {
		return err
	} else if m.Kind != "" && m.Kind != runflags.NSHost {
		return errdefs.NotImplemented("--userns %q: only host is supported (as Docker's CLI; Hutch has no daemon-wide remapping, and user namespaces per container are not done yet)", f.userns)
	} else if m.Kind == runflags.NSHost {
		h.UsernsMode = "host"
	}
	type nsFlag struct {
		val   string
		parse func(string) (runflags.NamespaceMode, error)
		dst   *string
	}
	for _, n := range []nsFlag{
		{f.pid, runflags.ParsePIDMode, &h.PidMode},
		{f.ipc, runflags.ParseIPCMode, &h.IpcMode},
		{f.uts, runflags.ParseUTSMode, &h.UTSMode},
		{f.cgroupns, runflags.ParseCgroupnsMode, &h.CgroupnsMode},
	} {
		m, err := n.parse(n.val)
		if err != nil {
			return err
		}
		switch m.Kind {
		case runflags.NSHost:
			*n.dst = "host"
		case runflags.NSContainer:
			*n.dst = "container:" + m.Container
		case runflags.NSPath:
			*n.dst = "ns:" + m.Path
		}
	}
	return nil
}

// rlim maps go-units' -1 (unlimited) to RLIM_INFINITY.
func rlim(v int64) uint64 {
	if v < 0 {
		return ^uint64(0)
	}
	return uint64(v)
}

// networkOptions reads --network, -p, -P, --ip, --mac-address and
// --network-alias.
func (f *createFlags) networkOptions(o *engine.CreateOptions) error {
	mode := f.network
	switch {
	case mode == "" || mode == "default":
		mode = "bridge"
	case strings.HasPrefix(mode, "container:"):
		if strings.TrimPrefix(mode, "container:") == "" {
			return errdefs.InvalidArgument("--network %q: name the container", mode)
		}
	}
	o.HostConfig.NetworkMode = mode
	bridged := mode != "none" && mode != "host" && !strings.HasPrefix(mode, "container:")
	if !bridged && (len(f.publish) > 0 || f.publishAll) {
		return errdefs.InvalidArgument("--network %s: published ports need a bridge network (they would be meaningless here)", mode)
	}
	if !bridged && (f.ip != "" || f.mac != "" || len(f.aliases) > 0) {
		return errdefs.InvalidArgument("--network %s: --ip, --mac-address and --network-alias need a bridge network", mode)
	}
	for _, p := range f.publish {
		ms, err := runflags.ParsePortSpec(p)
		if err != nil {
			return err
		}
		for _, m := range ms {
			pm, err := portMapping(m)
			if err != nil {
				return err
			}
			o.Net.Ports = append(o.Net.Ports, pm)
		}
	}
	o.PublishAll = f.publishAll
	o.Net.IP, o.Net.MAC, o.Net.Aliases = f.ip, f.mac, f.aliases
	return nil
}

// portMapping converts a parsed -p to the network package's form.
func portMapping(m runflags.PortMapping) (network.PortMapping, error) {
	pm := network.PortMapping{HostPort: m.HostPort, ContainerPort: m.ContainerPort, Protocol: m.Protocol}
	if m.HostPortEnd > m.HostPort {
		return pm, errdefs.NotImplemented("-p %d-%d:%d: a range of host ports for one container port is not supported yet", m.HostPort, m.HostPortEnd, m.ContainerPort)
	}
	if m.HostIP != "" {
		ip, err := netip.ParseAddr(m.HostIP)
		if err != nil {
			return pm, errdefs.InvalidArgument("-p: host address %q: %v", m.HostIP, err)
		}
		pm.HostIP = ip
	}
	return pm, nil
}
