package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"hutch.dev/hutch/cmd/internal/cli"
)

func init() { moreTopCommands = append(moreTopCommands, healthcheckCommand) }

// healthcheckCommand is Podman's `healthcheck run`: one check now, its
// result recorded; the monitor runs the same at each interval.
func healthcheckCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "healthcheck", Short: "Run the healthcheck of a container"}
	cmd.AddCommand(&cobra.Command{
		Use:   "run CONTAINER",
		Short: "Run the container's healthcheck once and record the result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			p, err := g.engine().Healthcheck(ctx, args[0])
			if err != nil {
				return err
			}
			if p.ExitCode != 0 {
				return &cli.ExitCodeError{Code: 1, Err: fmt.Errorf("unhealthy: exit %d: %s", p.ExitCode, p.Output)}
			}
			fmt.Println("healthy")
			return nil
		},
	})
	return cmd
}
