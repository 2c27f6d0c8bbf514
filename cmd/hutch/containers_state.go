package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/engine"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image/reference"
)

// The verbs that change or look at a container's state while it lives:
// pause, unpause, restart, rename, top, stats, and container prune.
func init() {
	moreContainerCommands = append(moreContainerCommands,
		pauseCommand, unpauseCommand, restartCommand, renameCommand, topCommand, statsCommand)
	containerOnlyCommands = append(containerOnlyCommands, containerPruneCommand)
}

// eachContainer runs fn on every ref, prints the refs it succeeded on as
// Docker does, and returns the last error.
func eachContainer(refs []string, fn func(ref string) error) error {
	var errs []error
	for _, ref := range refs {
		if err := fn(ref); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Println(ref)
	}
	return lastOf(errs)
}

func pauseCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			return eachContainer(args, func(ref string) error {
				_, err := e.Pause(context.Background(), ref)
				return err
			})
		},
	}
}

func unpauseCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Unpause all processes within one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			return eachContainer(args, func(ref string) error {
				_, err := e.Unpause(context.Background(), ref)
				return err
			})
		},
	}
}

func restartCommand(g *globals) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d := stopTimeout(cmd, timeout)
			e := g.engine()
			return eachContainer(args, func(ref string) error {
				if _, err := e.Restart(context.Background(), ref, d); err != nil {
					return startError(err)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait for the container to stop before killing it")
	return cmd
}

func renameCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  cli.ExactArgs(2, "the container and its new name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.engine().Rename(context.Background(), args[0], args[1])
		},
	}
}

func topCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := g.engine().Top(context.Background(), args[0], args[1:])
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 20, 1, 3, ' ', 0)
			fmt.Fprintln(w, strings.Join(res.Titles, "\t"))
			for _, p := range res.Processes {
				fmt.Fprintln(w, strings.Join(p, "\t"))
			}
			return w.Flush()
		},
	}
	// Everything after the container is for ps: -ef, aux, -o pid,comm.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// statsRow is one line of `hutch stats`, with Docker's template fields.
type statsRow struct {
	Container string // as named on the command line, else the short ID
	ID        string
	Name      string
	CPUPerc   string
	MemUsage  string
	MemPerc   string
	NetIO     string
	BlockIO   string
	PIDs      string
}

var statsHeaders = map[string]string{
	"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

// statsInterval is the time between two samples: the CPU share is
// measured over it.
const statsInterval = time.Second

func statsCommand(g *globals) *cobra.Command {
	var all, noStream, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			if format == "" {
				format = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
			}
			// Refs are checked once up front: a name that does not exist
			// is an error, as in Docker.
			for _, ref := range args {
				if _, err := e.Lookup(ref); err != nil {
					return err
				}
			}
			ctx, cancel := signalContext()
			defer cancel()
			out := cmd.OutOrStdout()
			redraw := !noStream && isTerminal(os.Stdout)
			hostMem := engine.HostMemory()
			prev, err := sampleStats(e, args, all)
			if err != nil {
				return err
			}
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(statsInterval):
				}
				cur, err := sampleStats(e, args, all)
				if err != nil {
					return err
				}
				rows := statsRows(cur, prev, args, hostMem, noTrunc)
				if redraw {
					// Home and erase the screen, then draw the table.
					fmt.Fprint(out, "\033[H\033[2J")
				}
				if err := printRows(out, format, rows, statsHeaders); err != nil {
					return err
				}
				if noStream {
					return nil
				}
				prev = cur
			}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	f.BoolVar(&noStream, "no-stream", false, "print one sample and exit instead of a live stream")
	f.BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	f.StringVar(&format, "format", "", "Go template (\"table ...\" for a table with headers, or json)")
	return cmd
}

// sampleStats reads the containers named by refs, or every running (all:
// every) container. A container removed meanwhile is left out.
func sampleStats(e *engine.Engine, refs []string, all bool) (map[string]*engine.StatsSample, error) {
	if len(refs) == 0 {
		cs, err := e.List()
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if all || c.State.Running {
				refs = append(refs, c.ID)
			}
		}
	}
	out := map[string]*engine.StatsSample{}
	for _, ref := range refs {
		s, err := e.Stats(ref)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[ref] = s
	}
	return out, nil
}

// statsRows formats the samples in the order of refs (or newest first,
// as List gives them, when no refs were named).
func statsRows(cur, prev map[string]*engine.StatsSample, refs []string, hostMem uint64, noTrunc bool) []statsRow {
	named := len(refs) > 0
	if !named {
		for ref := range cur {
			refs = append(refs, ref)
		}
		// Newest first would need the records again; by name reads well.
		sortByName(refs, cur)
	}
	var rows []statsRow
	for _, ref := range refs {
		s, ok := cur[ref]
		if !ok {
			continue
		}
		en := s.Entry(prev[ref], hostMem)
		id := s.ID
		if !noTrunc {
			id = engine.ShortID(id)
		}
		r := statsRow{
			Container: ref, ID: id, Name: s.Name,
			CPUPerc:  fmt.Sprintf("%.2f%%", en.CPUPercent),
			MemUsage: binarySize(en.MemUsage) + " / " + binarySize(en.MemLimit),
			MemPerc:  fmt.Sprintf("%.2f%%", en.MemPercent),
			NetIO:    humanSize(int64(en.NetRx)) + " / " + humanSize(int64(en.NetTx)),
			BlockIO:  humanSize(int64(en.BlockRead)) + " / " + humanSize(int64(en.BlockWrite)),
			PIDs:     fmt.Sprint(en.Pids),
		}
		if !named {
			r.Container = id
		}
		if !en.Running {
			r.CPUPerc, r.MemPerc = "--", "--"
		}
		rows = append(rows, r)
	}
	return rows
}

func sortByName(refs []string, cur map[string]*engine.StatsSample) {
	for i := 1; i < len(refs); i++ {
		for j := i; j > 0 && cur[refs[j]].Name < cur[refs[j-1]].Name; j-- {
			refs[j], refs[j-1] = refs[j-1], refs[j]
		}
	}
}

// binarySize prints a size in binary units with four significant digits,
// as Docker's memory column does (1.523MiB).
func binarySize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

func containerPruneCommand(g *globals) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := engine.ParsePruneFilters(filters)
			if err != nil {
				return err
			}
			if !force && !confirm("WARNING! This will remove all stopped containers.") {
				return nil
			}
			rep, err := g.engine().PruneContainers(context.Background(), f)
			if rep != nil {
				printPruneReport(cmd.OutOrStdout(), rep)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cli.ListVarP(cmd.Flags(), &filters, "filter", "", "provide filter values (until=<timestamp>, label=<key>[=<value>], label!=...)")
	return cmd
}

// printPruneReport prints what a prune removed as Docker does, then the
// total space.
func printPruneReport(out io.Writer, rep *engine.PruneReport) {
	if len(rep.Containers) > 0 {
		fmt.Fprintln(out, "Deleted Containers:")
		for _, id := range rep.Containers {
			fmt.Fprintln(out, id)
		}
		fmt.Fprintln(out)
	}
	if len(rep.Volumes) > 0 {
		fmt.Fprintln(out, "Deleted Volumes:")
		for _, v := range rep.Volumes {
			fmt.Fprintln(out, v)
		}
		fmt.Fprintln(out)
	}
	if len(rep.Images) > 0 {
		fmt.Fprintln(out, "Deleted Images:")
		for _, u := range rep.Untagged {
			fmt.Fprintln(out, "untagged:", reference.Familiar(u))
		}
		for _, d := range rep.Images {
			fmt.Fprintln(out, "deleted:", d)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "Total reclaimed space:", humanSize(rep.Reclaimed))
}
