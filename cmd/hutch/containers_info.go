package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/engine"
	"hutch.dev/hutch/errdefs"
)

// psRow is one line of `hutch ps`, with Docker's template field names.
type psRow struct {
	ID           string
	Image        string
	Command      string
	CreatedAt    string
	RunningFor   string
	Status       string
	State        string
	Ports        string
	Names        string
	Labels       string
	Mounts       string
	Networks     string
	Size         string
	container    *engine.Container
	createdSince string
}

func psRowOf(c *engine.Container, noTrunc bool) psRow {
	id := c.ID
	cmdline := strings.Join(append(append([]string(nil), c.Config.Entrypoint...), c.Config.Cmd...), " ")
	if !noTrunc {
		id = engine.ShortID(id)
		if len(cmdline) > 20 {
			cmdline = cmdline[:19] + "…"
		}
	}
	var labels []string
	for k, v := range c.Config.Labels {
		labels = append(labels, k+"="+v)
	}
	return psRow{
		ID:         id,
		Image:      c.Image,
		Command:    fmt.Sprintf("%q", cmdline),
		CreatedAt:  c.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		RunningFor: since(c.Created),
		Status:     statusLine(c),
		State:      c.State.Status,
		Names:      c.Name,
		Ports:      portsColumn(c),
		Labels:     strings.Join(labels, ","),
		Networks:   c.HostConfig.NetworkMode,
		container:  c,
	}
}

// portsColumn is Docker's PORTS column: "0.0.0.0:8080->80/tcp, ...",
// published ports while the container runs.
func portsColumn(c *engine.Container) string {
	if c.NetworkSettings == nil {
		return ""
	}
	var keys []string
	for k := range c.NetworkSettings.Ports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		for _, b := range c.NetworkSettings.Ports[k] {
			out = append(out, net.JoinHostPort(b.HostIP, b.HostPort)+"->"+k)
		}
	}
	return strings.Join(out, ", ")
}

// statusLine is Docker's STATUS column.
func statusLine(c *engine.Container) string {
	s := c.State
	switch s.Status {
	case engine.StatusRunning:
		if s.Health != nil {
			h := s.Health.Status
			if h == "starting" {
				h = "health: starting"
			}
			return "Up " + duration(time.Since(s.StartedAt)) + " (" + h + ")"
		}
		return "Up " + duration(time.Since(s.StartedAt))
	case engine.StatusPaused:
		return "Up " + duration(time.Since(s.StartedAt)) + " (Paused)"
	case engine.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s", s.ExitCode, since(s.FinishedAt))
	case engine.StatusExited:
		return fmt.Sprintf("Exited (%d) %s", s.ExitCode, since(s.FinishedAt))
	case engine.StatusCreated:
		return "Created"
	case engine.StatusRemoving:
		return "Removal In Progress"
	case engine.StatusDead:
		return "Dead"
	}
	return s.Status
}

// duration prints a running time as Docker does ("5 seconds", "About a
// minute", "2 hours").
func duration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Round(time.Hour).Hours()); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", h/24/365)
	}
}

// psFilter is one --filter KEY=VALUE of ps.
type psFilter struct{ key, value string }

func parsePsFilters(list []string) ([]psFilter, error) {
	var fs []psFilter
	for _, f := range list {
		k, v, ok := strings.Cut(f, "=")
		switch k {
		case "id", "name", "status", "label", "exited", "ancestor", "before", "since":
		default:
			return nil, errdefs.InvalidArgument("invalid filter %q: unknown key %q (id, name, status, label, exited, ancestor, before, since)", f, k)
		}
		if !ok {
			return nil, errdefs.InvalidArgument("invalid filter %q: want KEY=VALUE", f)
		}
		if k == "status" {
			switch v {
			case "created", "restarting", "running", "removing", "paused", "exited", "dead":
			default:
				return nil, errdefs.InvalidArgument("invalid filter 'status=%s': want created, restarting, running, removing, paused, exited or dead", v)
			}
		}
		fs = append(fs, psFilter{k, v})
	}
	return fs, nil
}

// matchFilters: values of one key are ORed, keys are ANDed (Docker).
func matchFilters(c *engine.Container, fs []psFilter, all []*engine.Container) bool {
	byKey := map[string][]string{}
	for _, f := range fs {
		byKey[f.key] = append(byKey[f.key], f.value)
	}
	for key, vals := range byKey {
		ok := false
		for _, v := range vals {
			if matchFilter(c, key, v, all) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchFilter(c *engine.Container, key, v string, all []*engine.Container) bool {
	switch key {
	case "id":
		return strings.HasPrefix(c.ID, v)
	case "name":
		return strings.Contains(c.Name, strings.TrimPrefix(v, "/"))
	case "status":
		return c.State.Status == v
	case "label":
		k, val, hasVal := strings.Cut(v, "=")
		got, ok := c.Config.Labels[k]
		return ok && (!hasVal || got == val)
	case "exited":
		return c.State.Status == engine.StatusExited && fmt.Sprint(c.State.ExitCode) == v
	case "ancestor":
		return c.Image == v || strings.HasPrefix(c.ImageID, v) || strings.HasPrefix(strings.TrimPrefix(c.ImageID, "sha256:"), v)
	case "before", "since":
		for _, o := range all {
			if o.ID == v || o.Name == v || strings.HasPrefix(o.ID, v) {
				if key == "before" {
					return c.Created.Before(o.Created)
				}
				return c.Created.After(o.Created)
			}
		}
	}
	return false
}

func psCommand(g *globals) *cobra.Command {
	var all, quiet, noTrunc, latest bool
	var last int
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, err := parsePsFilters(filters)
			if err != nil {
				return err
			}
			cs, err := g.engine().List()
			if err != nil {
				return err
			}
			if latest {
				last = 1
			}
			var rows []psRow
			for _, c := range cs {
				if !all && last <= 0 && !c.State.Running && !hasStatusFilter(fs) {
					continue
				}
				if !matchFilters(c, fs, cs) {
					continue
				}
				rows = append(rows, psRowOf(c, noTrunc))
				if last > 0 && len(rows) == last {
					break
				}
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, r := range rows {
					fmt.Fprintln(out, r.ID)
				}
				return nil
			}
			if format == "" || format == "table" {
				format = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
			}
			return printRows(out, format, rows, map[string]string{
				"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
				"RunningFor": "CREATED", "Status": "STATUS", "State": "STATE", "Ports": "PORTS",
				"Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "Size": "SIZE",
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	f.BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	f.BoolVarP(&latest, "latest", "l", false, "show the latest created container")
	f.IntVarP(&last, "last", "n", -1, "show n last created containers")
	f.StringVar(&format, "format", "", "Go template (\"table ...\" for a table with headers, or json)")
	cli.ListVarP(f, &filters, "filter", "f", "filter output (id, name, status, label, exited, ancestor, before, since)")
	return cmd
}

func hasStatusFilter(fs []psFilter) bool {
	for _, f := range fs {
		if f.key == "status" || f.key == "exited" {
			return true
		}
	}
	return false
}

func containerInspectCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			var docs []any
			var errs []error
			for _, a := range args {
				c, err := e.Inspect(a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				docs = append(docs, c)
			}
			return printInspect(cmd, format, docs, errs)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template")
	return cmd
}

// printInspect prints inspect documents as a JSON array, or each through
// a template that sees them as JSON objects (as Docker's templates do).
func printInspect(cmd *cobra.Command, format string, docs []any, errs []error) error {
	out := cmd.OutOrStdout()
	if format != "" {
		// Numbers keep their JSON text, so 67108864 prints as such and
		// not as a float.
		var generic []any
		b, _ := json.Marshal(docs)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		dec.Decode(&generic)
		if err := printRows(out, format, generic, nil); err != nil {
			return err
		}
		return lastOf(errs)
	}
	if docs == nil {
		docs = []any{}
	}
	b, err := json.MarshalIndent(docs, "", "    ")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(b))
	return lastOf(errs)
}

// anyInspectCommand is the top-level inspect: each name is looked up as a
// container first, then as an image, unless --type says which.
func anyInspectCommand(g *globals) *cobra.Command {
	var format, typ string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on containers or images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch typ {
			case "", "container", "image":
			default:
				return errdefs.InvalidArgument("--type %q: want container or image", typ)
			}
			e := g.engine()
			var docs []any
			var errs []error
			for _, a := range args {
				if typ != "image" {
					c, err := e.Inspect(a)
					if err == nil {
						docs = append(docs, c)
						continue
					}
					if !errdefs.IsNotFound(err) || typ == "container" {
						errs = append(errs, err)
						continue
					}
				}
				s, err := openStore(g)
				if err != nil {
					return err
				}
				img, err := s.Get(a)
				if errdefs.IsNotFound(err) {
					err = errdefs.NotFound("no such object: %s", a)
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				docs = append(docs, inspectOf(img))
			}
			return printInspect(cmd, format, docs, errs)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template")
	cmd.Flags().StringVar(&typ, "type", "", "only this kind of object: container or image")
	return cmd
}
