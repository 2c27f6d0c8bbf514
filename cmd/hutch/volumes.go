package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/runflags"
	"hutch.dev/hutch/volume"
)

func init() { moreTopCommands = append(moreTopCommands, volumeCommand) }

// volumeCommand is `hutch volume create|ls|inspect|rm|prune`.
func volumeCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes"}
	cmd.AddCommand(volumeCreateCommand(g), volumeLsCommand(g), volumeInspectCommand(g), volumeRmCommand(g), volumePruneCommand(g))
	return cmd
}

func volumeCreateCommand(g *globals) *cobra.Command {
	var driver string
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := g.engine().Volumes()
			if err != nil {
				return err
			}
			o := volume.CreateOptions{Driver: driver, Options: map[string]string{}}
			if o.Labels, err = runflags.ParseLabels(labels); err != nil {
				return err
			}
			for _, kv := range opts {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return errdefs.InvalidArgument("invalid argument %q for \"-o, --opt\" flag: want KEY=VALUE", kv)
				}
				o.Options[k] = v
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			v, err := vs.Create(name, o)
			if err != nil {
				return err
			}
			fmt.Println(v.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&driver, "driver", "d", "local", "volume driver name")
	cli.ListVarP(cmd.Flags(), &labels, "label", "", "set metadata for a volume")
	cli.ListVarP(cmd.Flags(), &opts, "opt", "o", "driver options (type=, device=, o=)")
	return cmd
}

type volumeRow struct {
	Driver     string
	Name       string
	Mountpoint string
	Labels     string
	Scope      string
	CreatedAt  string
}

func volumeLsCommand(g *globals) *cobra.Command {
	var quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := g.engine().Volumes()
			if err != nil {
				return err
			}
			f, err := volume.ParseFilters(filters)
			if err != nil {
				return err
			}
			list, err := vs.List(f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, v := range list {
					fmt.Fprintln(out, v.Name)
				}
				return nil
			}
			var rows []volumeRow
			for _, v := range list {
				var ls []string
				for k, val := range v.Labels {
					ls = append(ls, k+"="+val)
				}
				rows = append(rows, volumeRow{Driver: v.Driver, Name: v.Name, Mountpoint: v.Mountpoint,
					Labels: strings.Join(ls, ","), Scope: "local", CreatedAt: v.CreatedAt.Format(time.RFC3339)})
			}
			if format == "" {
				format = "table {{.Driver}}\t{{.Name}}"
			}
			return printRows(out, format, rows, map[string]string{
				"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS",
				"Scope": "SCOPE", "CreatedAt": "CREATED",
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display volume names")
	cmd.Flags().StringVar(&format, "format", "", "Go template")
	cli.ListVarP(cmd.Flags(), &filters, "filter", "f", "filter (name=, label=, driver=, dangling=)")
	return cmd
}

// inspectVolume is `volume inspect`'s document, Docker's shape.
type inspectVolume struct {
	CreatedAt  string
	Driver     string
	Labels     map[string]string
	Mountpoint string
	Name       string
	Options    map[string]string
	Scope      string
}

func volumeInspectCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := g.engine().Volumes()
			if err != nil {
				return err
			}
			var docs []any
			var errs []error
			for _, name := range args {
				v, err := vs.Get(name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				docs = append(docs, inspectVolume{CreatedAt: v.CreatedAt.Format(time.RFC3339), Driver: v.Driver,
					Labels: v.Labels, Mountpoint: v.Mountpoint, Name: v.Name, Options: v.Options, Scope: "local"})
			}
			return printInspect(cmd, format, docs, errs)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template")
	return cmd
}

func volumeRmCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := g.engine().Volumes()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				if err := vs.Remove(name, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Println(name)
			}
			return lastOf(errs)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not fail on a missing volume (a volume in use is never removed)")
	return cmd
}

func volumePruneCommand(g *globals) *cobra.Command {
	var force, all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes (anonymous ones; all unused with --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force && !confirm("WARNING! This will remove anonymous local volumes not used by at least one container.") {
				return nil
			}
			vs, err := g.engine().Volumes()
			if err != nil {
				return err
			}
			f, err := volume.ParseFilters(filters)
			if err != nil {
				return err
			}
			f.All = f.All || all
			removed, reclaimed, err := vs.Prune(f)
			if err != nil {
				return err
			}
			if len(removed) > 0 {
				fmt.Println("Deleted Volumes:")
				for _, n := range removed {
					fmt.Println(n)
				}
				fmt.Println()
			}
			fmt.Printf("Total reclaimed space: %s\n", humanSize(reclaimed))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused volumes, not just anonymous ones")
	cli.ListVarP(cmd.Flags(), &filters, "filter", "", "filter (label=, label!=)")
	return cmd
}
