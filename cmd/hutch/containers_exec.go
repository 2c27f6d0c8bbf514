package main

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/cmd/internal/runccli"
	"hutch.dev/hutch/engine"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/runflags"
	"hutch.dev/hutch/runtime"
)

func execCommand(g *globals) *cobra.Command {
	var o engine.ExecOptions
	var env, envFiles []string
	var detach bool
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Cmd = args[1:]
			for _, file := range envFiles {
				kv, err := runflags.ParseEnvFile(file)
				if err != nil {
					return err
				}
				o.Env = append(o.Env, kv...)
			}
			kv, err := runflags.ParseEnv(env)
			if err != nil {
				return err
			}
			o.Env = append(o.Env, kv...)
			if o.Tty && detach {
				o.Tty = false // Docker: -dt has no terminal to relay
			}
			_, rc, p, err := g.engine().PrepareExec(args[0], o)
			if err != nil {
				return err
			}
			code, err := runEngineExec(rc, p, detach, o.Interactive)
			if err != nil {
				return startError(err)
			}
			return &cli.ExitCodeError{Code: code}
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&o.Interactive, "interactive", "i", false, "keep STDIN open")
	fs.BoolVarP(&o.Tty, "tty", "t", false, "allocate a pseudo-TTY")
	fs.BoolVarP(&detach, "detach", "d", false, "run the command in the background")
	fs.BoolVar(&o.Privileged, "privileged", false, "give extended privileges to the command")
	cli.ListVarP(fs, &env, "env", "e", "set environment variables")
	cli.ListVarP(fs, &envFiles, "env-file", "", "read environment variables from a file")
	fs.StringVarP(&o.WorkingDir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&o.User, "user", "u", "", "user name or UID, and optionally group (user[:group])")
	return cmd
}

// runEngineExec is runccli.Exec with Docker's stdin rule: without -i the
// process reads /dev/null, not our terminal.
func runEngineExec(rc *runtime.Container, p *specs.Process, detach, interactive bool) (int, error) {
	var eo runccli.ExecOptions
	eo.Detach = detach
	if !interactive && !p.Terminal {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return 0, err
		}
		defer devnull.Close()
		eo.Stdin = devnull
	}
	if detach && p.Terminal {
		return 0, errdefs.InvalidArgument("exec: -t with -d has no terminal to give")
	}
	return runccli.Exec(rc, p, eo)
}
