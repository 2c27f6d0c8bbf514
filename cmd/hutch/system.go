package main

import (
	"context"
	"fmt"
	"io"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/engine"
	"hutch.dev/hutch/image/reference"
)

// `hutch system df|prune`, `hutch info` and `hutch version`.
func init() {
	moreTopCommands = append(moreTopCommands, systemCommand, infoCommand, versionCommand)
}

func systemCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage Hutch"}
	info := infoCommand(g)
	cmd.AddCommand(systemDfCommand(g), systemPruneCommand(g), info)
	return cmd
}

// dfRow is one line of `system df`, with Docker's template fields.
type dfRow struct {
	Type        string
	TotalCount  string
	Active      string
	Size        string
	Reclaimable string
}

func reclaimable(n, total int64) string {
	if total > 0 {
		return fmt.Sprintf("%s (%d%%)", humanSize(n), n*100/total)
	}
	return humanSize(n)
}

func systemDfCommand(g *globals) *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show disk usage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			du, err := g.engine().DiskUsage(context.Background())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if verbose {
				return printDfVerbose(out, du)
			}
			activeImages := 0
			for _, iu := range du.Images {
				if iu.Containers > 0 {
					activeImages++
				}
			}
			running := 0
			var ctrSize, ctrFree int64
			for _, cu := range du.Containers {
				ctrSize += cu.Size
				if cu.Container.State.Running {
					running++
				} else {
					ctrFree += cu.Size
				}
			}
			activeVols := 0
			var volSize, volFree int64
			for _, vu := range du.Volumes {
				volSize += vu.Size
				if vu.Links > 0 {
					activeVols++
				} else {
					volFree += vu.Size
				}
			}
			rows := []dfRow{
				{"Images", fmt.Sprint(len(du.Images)), fmt.Sprint(activeImages), humanSize(du.ImagesSize), reclaimable(du.ImagesReclaimable, du.ImagesSize)},
				{"Containers", fmt.Sprint(len(du.Containers)), fmt.Sprint(running), humanSize(ctrSize), reclaimable(ctrFree, ctrSize)},
				{"Local Volumes", fmt.Sprint(len(du.Volumes)), fmt.Sprint(activeVols), humanSize(volSize), reclaimable(volFree, volSize)},
				// Builds keep no cache apart from their images.
				{"Build Cache", "0", "0", "0B", "0B"},
			}
			if format == "" {
				format = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
			}
			return printRows(out, format, rows, map[string]string{
				"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE",
			})
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show detailed information on space usage")
	cmd.Flags().StringVar(&format, "format", "", "Go template (\"table ...\" for a table with headers, or json)")
	return cmd
}

// printDfVerbose is `system df -v`: one table per kind, as Docker's.
func printDfVerbose(out io.Writer, du *engine.DiskUsage) error {
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprint(w, "Images space usage:\n\n")
	fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS")
	for _, iu := range du.Images {
		repo, tag := "<none>", "<none>"
		if len(iu.Image.Names) > 0 {
			r, t := reference.Split(iu.Image.Names[0])
			repo, tag = reference.Familiar(r), t
		}
		var created time.Time
		if iu.Image.Config != nil {
			created = iu.Image.Config.Created.Time
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", repo, tag, engine.ShortID(iu.Image.ID.Encoded()), since(created),
			humanSize(iu.Size), humanSize(iu.SharedSize), humanSize(iu.Size-iu.SharedSize), iu.Containers)
	}
	fmt.Fprint(w, "\nContainers space usage:\n\n")
	fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES")
	for _, cu := range du.Containers {
		r := psRowOf(cu.Container, false)
		vols := 0
		for _, m := range cu.Container.Mounts {
			if m.Type == "volume" {
				vols++
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, r.Image, r.Command, vols, humanSize(cu.Size), r.RunningFor, r.Status, r.Names)
	}
	fmt.Fprint(w, "\nLocal Volumes space usage:\n\n")
	fmt.Fprintln(w, "VOLUME NAME\tLINKS\tSIZE")
	for _, vu := range du.Volumes {
		fmt.Fprintf(w, "%s\t%d\t%s\n", vu.Name, vu.Links, humanSize(vu.Size))
	}
	fmt.Fprint(w, "\nBuild cache usage: 0B\n\n")
	fmt.Fprintln(w, "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED")
	return w.Flush()
}

func systemPruneCommand(g *globals) *cobra.Command {
	var all, force, volumes bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := engine.ParsePruneFilters(filters)
			if err != nil {
				return err
			}
			if !force {
				warning := "WARNING! This will remove:\n  - all stopped containers\n"
				if volumes {
					warning += "  - all anonymous volumes not used by at least one container\n"
				}
				if all {
					warning += "  - all images without at least one container associated to them\n"
				} else {
					warning += "  - all dangling images\n"
				}
				if !confirm(warning) {
					return nil
				}
			}
			ctx := context.Background()
			e := g.engine()
			total := &engine.PruneReport{}
			defer func() { printPruneReport(cmd.OutOrStdout(), total) }()
			add := func(r *engine.PruneReport) {
				if r == nil {
					return
				}
				total.Containers = append(total.Containers, r.Containers...)
				total.Volumes = append(total.Volumes, r.Volumes...)
				total.Untagged = append(total.Untagged, r.Untagged...)
				total.Images = append(total.Images, r.Images...)
				total.Reclaimed += r.Reclaimed
			}
			// Containers first: the images and volumes they held are
			// unused once they are gone.
			r, err := e.PruneContainers(ctx, f)
			add(r)
			if err != nil {
				return err
			}
			if volumes {
				r, err := e.PruneVolumes(false)
				add(r)
				if err != nil {
					return err
				}
			}
			r, err = e.PruneImages(ctx, all)
			add(r)
			if err != nil {
				return err
			}
			s, err := e.Images()
			if err != nil {
				return err
			}
			return gcSnapshots(ctx, g, s)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "remove all unused images, not just dangling ones")
	fl.BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	fl.BoolVar(&volumes, "volumes", false, "prune anonymous volumes")
	cli.ListVarP(fl, &filters, "filter", "", "provide filter values for containers (until=<timestamp>, label=<key>[=<value>], label!=...)")
	return cmd
}

func infoCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := g.engine().Info()
			if err != nil {
				return err
			}
			in.ServerVersion = cli.Version
			out := cmd.OutOrStdout()
			if format != "" {
				return printRows(out, format, []*engine.Info{in}, nil)
			}
			printInfo(out, in)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template, or json")
	return cmd
}

func printInfo(out io.Writer, in *engine.Info) {
	line := func(indent int, k string, v any) {
		fmt.Fprintf(out, "%s%s: %v\n", strings.Repeat(" ", indent), k, v)
	}
	fmt.Fprintln(out, "Server:")
	line(1, "Containers", in.Containers)
	line(2, "Running", in.ContainersRunning)
	line(2, "Paused", in.ContainersPaused)
	line(2, "Stopped", in.ContainersStopped)
	line(1, "Images", in.Images)
	line(1, "Server Version", in.ServerVersion)
	driver := in.Driver
	if driver == "" {
		driver = "none (chosen at the first image)"
	}
	line(1, "Storage Driver", driver)
	if in.BackingFilesystem != "" {
		line(2, "Backing Filesystem", in.BackingFilesystem)
	}
	line(1, "Logging Driver", in.LoggingDriver)
	line(1, "Cgroup Driver", in.CgroupDriver)
	line(1, "Cgroup Version", in.CgroupVersion)
	line(1, "Runtimes", in.DefaultRuntime)
	line(1, "Default Runtime", in.DefaultRuntime+" (built in)")
	line(1, "Daemon", "none (each command works on the state on disk)")
	line(1, "Kernel Version", in.KernelVersion)
	line(1, "Operating System", in.OperatingSystem)
	line(1, "OSType", in.OSType)
	line(1, "Architecture", in.Architecture)
	line(1, "CPUs", in.NCPU)
	line(1, "Total Memory", binarySize(uint64(in.MemTotal)))
	line(1, "Name", in.Name)
	if in.ID != "" {
		line(1, "ID", in.ID)
	}
	line(1, "Hutch Root Dir", in.HutchRootDir)
	line(1, "Hutch Run Root", in.HutchRunRoot)
	line(1, "Rootless", in.Rootless)
}

// versionInfo is `hutch version`'s data, in Docker's shape so that
// `--format '{{.Server.Version}}'` works as there.
type versionInfo struct {
	Client versionPart
	Server versionPart
}

type versionPart struct {
	Platform   struct{ Name string }
	Version    string
	GitCommit  string
	GoVersion  string
	Os         string
	Arch       string
	BuildTime  string             `json:",omitempty"`
	Components []versionComponent `json:",omitempty"`
}

type versionComponent struct {
	Name    string
	Version string
	Details map[string]string `json:",omitempty"`
}

// buildVersion fills the parts both sections share from the binary's
// build information (the Git commit when built from a checkout).
func buildVersion() versionPart {
	p := versionPart{Version: cli.Version, GoVersion: goruntime.Version(), Os: goruntime.GOOS, Arch: goruntime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				p.GitCommit = s.Value
				if len(p.GitCommit) > 12 {
					p.GitCommit = p.GitCommit[:12]
				}
			case "vcs.time":
				p.BuildTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && p.GitCommit != "" {
			p.GitCommit += "-dirty"
		}
	}
	return p
}

func versionCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Hutch version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := versionInfo{Client: buildVersion(), Server: buildVersion()}
			v.Client.Platform.Name = "Hutch"
			v.Server.Platform.Name = "Hutch Engine (daemonless)"
			v.Server.Components = []versionComponent{
				{Name: "Engine", Version: cli.Version, Details: map[string]string{"GitCommit": v.Server.GitCommit, "GoVersion": v.Server.GoVersion}},
				{Name: "hutch-runc", Version: cli.Version, Details: map[string]string{"GitCommit": "built in"}},
			}
			out := cmd.OutOrStdout()
			if format != "" {
				return printRows(out, format, []versionInfo{v}, nil)
			}
			commit := v.Client.GitCommit
			if commit == "" {
				commit = "unknown"
			}
			// Docker's layout: the values start in one column.
			kv := func(indent int, k, v string) {
				pad := strings.Repeat(" ", indent)
				fmt.Fprintf(out, "%s%-*s%s\n", pad, 19-indent, k+":", v)
			}
			fmt.Fprintln(out, "Client:")
			kv(1, "Version", v.Client.Version)
			kv(1, "Go version", v.Client.GoVersion)
			kv(1, "Git commit", commit)
			if v.Client.BuildTime != "" {
				kv(1, "Built", v.Client.BuildTime)
			}
			kv(1, "OS/Arch", v.Client.Os+"/"+v.Client.Arch)
			fmt.Fprintln(out)
			fmt.Fprintln(out, "Server:", v.Server.Platform.Name)
			fmt.Fprintln(out, " Engine:")
			kv(2, "Version", v.Server.Version)
			kv(2, "Go version", v.Server.GoVersion)
			kv(2, "Git commit", commit)
			kv(2, "OS/Arch", v.Server.Os+"/"+v.Server.Arch)
			fmt.Fprintln(out, " OCI runtime:")
			kv(2, "Name", "hutch-runc (built in)")
			kv(2, "Version", cli.Version)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template, or json")
	return cmd
}
