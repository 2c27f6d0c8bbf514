package runccli

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/signame"
	"hutch.dev/hutch/runtime"
)

func addCreateFlags(cmd *cobra.Command, o *runtime.CreateOptions) {
	f := cmd.Flags()
	f.StringVarP(&o.Bundle, "bundle", "b", ".", "path to the bundle (the directory holding config.json)")
	f.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket that receives the pty master when process.terminal is true")
	f.StringVar(&o.PidFile, "pid-file", "", "file to write the init's pid to")
	f.BoolVar(&o.NoPivot, "no-pivot", false, "use MS_MOVE and chroot instead of pivot_root (for a root on ramfs)")
	f.BoolVar(&o.NoNewKeyring, "no-new-keyring", false, "keep the caller's session keyring")
	f.IntVar(&o.PreserveFds, "preserve-fds", 0, "pass this many extra fds (3, 4, ...) to the container")
}

func (g *runcGlobals) createCmd() *cobra.Command {
	var o runtime.CreateOptions
	cmd := &cobra.Command{
		Use:   "create [flags] CONTAINER_ID",
		Short: "Create a container: namespaces, rootfs and cgroup ready, waiting for start",
		Args:  cli.ExactArgs(1, "a container id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.SystemdCgroup = g.systemdCgroup
			_, err := runtime.Create(g.root, args[0], o)
			return err
		},
	}
	addCreateFlags(cmd, &o)
	return cmd
}

func (g *runcGlobals) startCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "start CONTAINER_ID",
		Short: "Start the user process of a created container",
		Args:  cli.ExactArgs(1, "a container id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				return err
			}
			return c.Start()
		},
	}
}

func (g *runcGlobals) runCmd() *cobra.Command {
	var o runtime.CreateOptions
	var detach, keep bool
	cmd := &cobra.Command{
		Use:   "run [flags] CONTAINER_ID",
		Short: "Create and start a container, and wait for it unless detached",
		Args:  cli.ExactArgs(1, "a container id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.SystemdCgroup = g.systemdCgroup
			code, err := runForeground(g.root, args[0], o, detach, keep)
			if err != nil {
				return err
			}
			if code != 0 {
				return &cli.ExitCodeError{Code: code}
			}
			return nil
		},
	}
	addCreateFlags(cmd, &o)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	cmd.Flags().BoolVar(&keep, "keep", false, "do not delete the container after it exits")
	return cmd
}

func (g *runcGlobals) stateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "state CONTAINER_ID",
		Short: "Print the container's state as the runtime spec defines it",
		Args:  cli.ExactArgs(1, "a container id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				return err
			}
			return printJSON(runcState(c))
		},
	}
}

// runcStateJSON is what `runc state` prints: the OCI state plus runc's
// extra fields, which tools parse.
type runcStateJSON struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     string            `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func runcState(c *runtime.Container) runcStateJSON {
	st := c.OCIState()
	return runcStateJSON{
		OCIVersion: st.Version, ID: st.ID, Pid: st.Pid, Status: string(st.Status),
		Bundle: st.Bundle, Rootfs: c.State.Rootfs, Created: c.State.Created.Format("2006-01-02T15:04:05.999999999Z"),
		Owner: ownerOf(c), Annotations: st.Annotations,
	}
}

func ownerOf(c *runtime.Container) string {
	if c.State.Owner == "0" {
		return "root"
	}
	return c.State.Owner
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (g *runcGlobals) killCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [flags] CONTAINER_ID [SIGNAL]",
		Short: "Send a signal (default SIGTERM) to the container's init",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return errdefs.InvalidArgument("kill: expects a container id and an optional signal")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := unix.SIGTERM
			if len(args) == 2 {
				var err error
				if sig, err = signame.Parse(args[1]); err != nil {
					return err
				}
			}
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				return err
			}
			return c.Kill(sig, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "send the signal to every process in the container")
	return cmd
}

func (g *runcGlobals) deleteCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete [flags] CONTAINER_ID",
		Short: "Delete a stopped container (and its cgroup and state)",
		Args:  cli.ExactArgs(1, "a container id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.root, args[0])
			if err != nil {
				if force && errdefs.IsNotFound(err) {
					return nil
				}
				return err
			}
			return c.Delete(force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container first if it is still running")
	return cmd
}
