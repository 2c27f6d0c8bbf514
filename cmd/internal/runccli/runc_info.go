package runccli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime"
	"hutch.dev/hutch/runtime/specconv"
	"hutch.dev/hutch/spec"
	"hutch.dev/hutch/store"
)

func (g *runcGlobals) psCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [flags] CONTAINER_ID [PS_OPTIONS...]",
		Short: "List the processes of a container",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return errdefs.InvalidArgument("ps: expects a container id")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				return err
			}
			pids, err := c.Processes()
			if err != nil {
				return err
			}
			switch format {
			case "json":
				if pids == nil {
					pids = []int{}
				}
				return json.NewEncoder(os.Stdout).Encode(pids)
			case "table":
				return psTable(pids, args[1:])
			}
			return errdefs.InvalidArgument("ps: --format %q: must be table or json", format)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return cmd
}

// psTable runs the host's ps (with the given options, default -ef) and
// keeps the header and the container's processes, as runc does.
func psTable(pids []int, psArgs []string) error {
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		return fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	pidCol := -1
	for i, h := range strings.Fields(lines[0]) {
		if h == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return errdefs.InvalidArgument("ps %s: output has no PID column", strings.Join(psArgs, " "))
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	fmt.Println(lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > pidCol {
			if p, err := strconv.Atoi(f[pidCol]); err == nil && in[p] {
				fmt.Println(l)
			}
		}
	}
	return nil
}

func (g *runcGlobals) listCmd() *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List the containers under --root",
		Args:  cli.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := runtime.List(g.root)
			if err != nil {
				return err
			}
			if quiet {
				for _, c := range cs {
					fmt.Println(c.State.ID)
				}
				return nil
			}
			states := make([]runcStateJSON, 0, len(cs))
			for _, c := range cs {
				states = append(states, runcState(c))
			}
			switch format {
			case "json":
				return json.NewEncoder(os.Stdout).Encode(states)
			case "table":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, s := range states {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created, s.Owner)
				}
				return w.Flush()
			}
			return errdefs.InvalidArgument("list: --format %q: must be table or json", format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the ids")
	return cmd
}

func (g *runcGlobals) pauseCmd() *cobra.Command {
	return &cobra.Command{
		Use: "pause CONTAINER_ID", Short: "Freeze every process of a container",
		Args: cli.ExactArgs(1, "a container id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				return err
			}
			return c.Pause()
		},
	}
}

func (g *runcGlobals) resumeCmd() *cobra.Command {
	return &cobra.Command{
		Use: "resume CONTAINER_ID", Short: "Thaw a paused container",
		Args: cli.ExactArgs(1, "a container id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				return err
			}
			return c.Resume()
		},
	}
}

// runcEvent is one line of `runc events`.
type runcEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func (g *runcGlobals) eventsCmd() *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events [flags] CONTAINER_ID",
		Short: "Print the container's resource usage (--stats once, else every --interval) and OOM events",
		Args:  cli.ExactArgs(1, "a container id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			if stats {
				s, err := c.Stats()
				if err != nil {
					return err
				}
				return enc.Encode(runcEvent{Type: "stats", ID: c.State.ID, Data: s})
			}
			if interval <= 0 {
				return errdefs.InvalidArgument("events: --interval must be positive")
			}
			ooms, _ := c.OOMKillCount()
			for {
				s, err := c.Stats()
				if err != nil {
					if c.Status() == runtime.StatusStopped {
						return nil
					}
					return err
				}
				if n, err := c.OOMKillCount(); err == nil && n > ooms {
					ooms = n
					enc.Encode(runcEvent{Type: "oom", ID: c.State.ID})
				}
				if err := enc.Encode(runcEvent{Type: "stats", ID: c.State.ID, Data: s}); err != nil {
					return err
				}
				time.Sleep(interval)
			}
		},
	}
	cmd.Flags().BoolVar(&stats, "stats", false, "print the stats once and exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "time between stats")
	return cmd
}

func specCmd() *cobra.Command {
	var bundle string
	var rootless bool
	cmd := &cobra.Command{
		Use:   "spec [flags]",
		Short: "Write a default config.json into the bundle",
		Args:  cli.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := spec.Default()
			if rootless {
				spec.Rootless(s)
			}
			path := "config.json"
			if bundle != "" {
				path = bundle + "/config.json"
			}
			if _, err := os.Stat(path); err == nil {
				return errdefs.AlreadyExists("%s already exists: remove it first", path)
			}
			data, err := json.MarshalIndent(s, "", "\t")
			if err != nil {
				return err
			}
			return store.WriteFileAtomic(path, append(data, '\n'), 0o644)
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", "", "the bundle directory (default: the current one)")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "a config for a container run by an unprivileged user")
	return cmd
}

func featuresCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "Print what this runtime supports (runtime-spec features.json)",
		Args:  cli.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printJSON(runtimeFeatures())
		},
	}
}

func runtimeFeatures() *features.Features {
	yes, no := true, false
	var ns []string
	for t := range specconv.NamespaceTypes {
		ns = append(ns, string(t))
	}
	caps := specconv.AllCapabilities()
	var rlim []string
	for r := range specconv.Rlimits {
		rlim = append(rlim, r)
	}
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  specconv.MountOptionNames(),
		Linux: &features.Linux{
			Namespaces:   sortStrings(ns),
			Capabilities: sortStrings(caps),
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &no},
			Seccomp: &features.Seccomp{
				Enabled: &yes,
				Actions: []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
					"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"},
				Operators: []string{"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
					"SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"},
				Archs: []string{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"},
			},
			Apparmor:        &features.Apparmor{Enabled: &no},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &no}},
		},
		Annotations:                        map[string]string{"org.opencontainers.runc.checkpoint.enabled": "false", "io.hutch.version": cli.Version},
		PotentiallyUnsafeConfigAnnotations: nil,
	}
}
