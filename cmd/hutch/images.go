package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"text/template"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
	"hutch.dev/hutch/image/reference"
	"hutch.dev/hutch/image/registry"
	"hutch.dev/hutch/image/saveload"
	"hutch.dev/hutch/image/unpack"
	"hutch.dev/hutch/internal/imagechange"
	"hutch.dev/hutch/snapshot"
)

// addImageCommands registers the image verbs (pull, push, images, rmi,
// tag, inspect, history, save, load, import, image prune), at the top
// level as Docker has them and under `hutch image` as well.
func addImageCommands(root *cobra.Command, g *globals) {
	imageCmd := &cobra.Command{Use: "image", Short: "Manage images"}
	for _, mk := range []func(*globals) *cobra.Command{
		pullCommand, pushCommand, imagesCommand, rmiCommand, tagCommand,
		inspectCommand, historyCommand, saveCommand, loadCommand, importCommand,
	} {
		if top := mk(g); top.Name() != "inspect" { // the top-level inspect takes containers too
			root.AddCommand(top)
		}
		sub := mk(g)
		switch sub.Name() {
		case "images":
			sub.Use, sub.Aliases = "ls [REPOSITORY]", []string{"list"}
		case "rmi":
			sub.Use, sub.Aliases = "rm IMAGE...", []string{"remove"}
		}
		imageCmd.AddCommand(sub)
	}
	imageCmd.AddCommand(pruneCommand(g))
	root.AddCommand(imageCmd, loginCommand(), logoutCommand())
}

func openStore(g *globals) (*image.Store, error) {
	return image.Open(g.root)
}

// openStoreToAdd opens the store for a command that adds images (pull,
// load, import), checking the storage driver first: a wrong one must fail
// before anything is stored.
func openStoreToAdd(g *globals) (*image.Store, error) {
	if _, err := openSnapshotter(g); err != nil {
		return nil, err
	}
	return openStore(g)
}

// openSnapshotter opens the root's snapshotter: the one --storage-driver
// (or $HUTCH_STORAGE_DRIVER) names, else overlay when the file system can
// hold overlay layers, native otherwise. A root keeps the driver it started
// with; asking for the other one is refused.
func openSnapshotter(g *globals) (snapshot.Snapshotter, error) {
	sn, _, err := unpack.Open(g.root, g.storageDriver)
	return sn, err
}

// unpackImages unpacks the layers of imgs into the root's snapshotter
// (each layer once, keyed by chain ID), as Podman does after a pull.
func unpackImages(ctx context.Context, g *globals, s *image.Store, imgs ...*image.Image) error {
	sn, err := openSnapshotter(g)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		if err := unpack.Unpack(ctx, s, sn, img); err != nil {
			return err
		}
	}
	return nil
}

// gcSnapshots removes the unpacked layers no image uses any more; a root
// that never unpacked anything has nothing to collect.
func gcSnapshots(ctx context.Context, g *globals, s *image.Store) error {
	if _, err := os.Stat(filepath.Join(g.root, "storage-driver")); err != nil {
		return nil
	}
	sn, err := openSnapshotter(g)
	if err != nil {
		return err
	}
	_, err = unpack.GC(ctx, s, sn)
	return err
}

// signalContext is cancelled by SIGINT or SIGTERM, so an interrupted
// transfer stops cleanly and leaves a resumable ingest.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// registryFlags are the flags pull, push and login share.
type registryFlags struct {
	tlsVerify bool
	authFile  string
}

func (r *registryFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&r.tlsVerify, "tls-verify", true, "require HTTPS and verify certificates (default: true except for localhost and 127.0.0.0/8)")
	cmd.Flags().StringVar(&r.authFile, "authfile", os.Getenv("REGISTRY_AUTH_FILE"), "credentials file (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)")
}

func (r *registryFlags) options(cmd *cobra.Command) registry.Options {
	o := registry.Options{AuthFile: r.authFile}
	if cmd.Flags().Changed("tls-verify") {
		v := r.tlsVerify
		o.TLSVerify = &v
	}
	return o
}

func pullCommand(g *globals) *cobra.Command {
	var rf registryFlags
	var platform string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [flags] IMAGE | oci:DIR[:REF] | docker-archive:FILE",
		Short: "Pull an image from a registry (or an OCI layout, or a docker-archive)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStoreToAdd(g)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			var p *v1.Platform
			if platform != "" {
				if p, err = parsePlatform(platform); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			prog := newProgress(out, quiet)
			defer prog.finish()
			var img *image.Image
			switch src := args[0]; {
			case strings.HasPrefix(src, "oci:"):
				dir, ref, _ := strings.Cut(strings.TrimPrefix(src, "oci:"), ":")
				imgs, err := saveload.LoadLayout(ctx, s, dir, ref, saveload.LoadOptions{Platform: p, Progress: prog.update})
				if err != nil {
					return err
				}
				img = imgs[0]
			case strings.HasPrefix(src, "docker-archive:"):
				imgs, err := saveload.Load(ctx, s, strings.TrimPrefix(src, "docker-archive:"), saveload.LoadOptions{Progress: prog.update})
				if err != nil {
					return err
				}
				img = imgs[0]
			default:
				o := rf.options(cmd)
				o.Platform, o.Progress = p, prog.update
				if img, err = registry.Pull(ctx, s, src, o); err != nil {
					return err
				}
			}
			prog.finish()
			if err := unpackImages(ctx, g, s, img); err != nil {
				return err
			}
			if !quiet {
				fmt.Fprintln(out, "Digest:", img.Digest)
			}
			if len(img.Names) > 0 {
				fmt.Fprintln(out, img.Names[0])
			} else {
				fmt.Fprintln(out, img.ID)
			}
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&platform, "platform", "", "platform to choose from an index: os/arch[/variant] (default this machine's)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image name")
	return cmd
}

func parsePlatform(s string) (*v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, errdefs.InvalidArgument("platform %q: want os/arch[/variant]", s)
	}
	p := &v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func pushCommand(g *globals) *cobra.Command {
	var rf registryFlags
	var quiet bool
	cmd := &cobra.Command{
		Use:   "push [flags] IMAGE [DESTINATION]",
		Short: "Push an image to a registry (DESTINATION may be oci:DIR or docker-archive:FILE)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			dest := ""
			if len(args) == 2 {
				dest = args[1]
			}
			switch {
			case strings.HasPrefix(dest, "oci:"):
				return saveload.Save(ctx, s, strings.TrimPrefix(dest, "oci:"), saveload.OCIDir, args[:1])
			case strings.HasPrefix(dest, "docker-archive:"):
				return saveload.Save(ctx, s, strings.TrimPrefix(dest, "docker-archive:"), saveload.DockerArchive, args[:1])
			}
			out := cmd.OutOrStdout()
			prog := newProgress(out, quiet)
			defer prog.finish()
			o := rf.options(cmd)
			o.Progress = prog.update
			d, err := registry.Push(ctx, s, args[0], dest, o)
			if err != nil {
				return err
			}
			prog.finish()
			fmt.Fprintln(out, "Digest:", d)
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the digest")
	return cmd
}

func loginCommand() *cobra.Command {
	var rf registryFlags
	var user, password string
	var stdin bool
	cmd := &cobra.Command{
		Use:   "login [flags] [REGISTRY]",
		Short: "Log in to a registry (credentials are kept in Docker's config.json)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := ""
			if len(args) == 1 {
				reg = args[0]
			}
			in := bufio.NewReader(cmd.InOrStdin())
			if user == "" {
				if !isTerminal(os.Stdin) {
					return errdefs.InvalidArgument("login: give a username with -u")
				}
				fmt.Fprint(cmd.OutOrStdout(), "Username: ")
				l, _ := in.ReadString('\n')
				user = strings.TrimSpace(l)
			}
			switch {
			case stdin:
				if password != "" {
					return errdefs.InvalidArgument("login: --password and --password-stdin are exclusive")
				}
				b, err := io.ReadAll(in)
				if err != nil {
					return err
				}
				password = strings.TrimRight(string(b), "\r\n")
			case password == "" && isTerminal(os.Stdin):
				fmt.Fprint(cmd.OutOrStdout(), "Password: ")
				password = readHidden(in)
				fmt.Fprintln(cmd.OutOrStdout())
			}
			if password == "" {
				return errdefs.InvalidArgument("login: give a password with -p or --password-stdin")
			}
			ctx, cancel := signalContext()
			defer cancel()
			if _, err := registry.Login(ctx, reg, user, password, rf.options(cmd)); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVarP(&user, "username", "u", "", "user name")
	cmd.Flags().StringVarP(&password, "password", "p", "", "password (prefer --password-stdin)")
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

// readHidden reads a line from the terminal with echo off.
func readHidden(in *bufio.Reader) string {
	fd := int(os.Stdin.Fd())
	if t, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		quiet := *t
		quiet.Lflag &^= unix.ECHO
		unix.IoctlSetTermios(fd, unix.TCSETS, &quiet)
		defer unix.IoctlSetTermios(fd, unix.TCSETS, t)
	}
	l, _ := in.ReadString('\n')
	return strings.TrimRight(l, "\r\n")
}

func logoutCommand() *cobra.Command {
	var authFile string
	cmd := &cobra.Command{
		Use:   "logout [REGISTRY]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := ""
			if len(args) == 1 {
				reg = args[0]
			}
			if err := registry.Logout(reg, registry.Options{AuthFile: authFile}); err != nil {
				return err
			}
			if reg == "" {
				reg = reference.DockerHub
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removing login credentials for %s\n", reg)
			return nil
		},
	}
	cmd.Flags().StringVar(&authFile, "authfile", os.Getenv("REGISTRY_AUTH_FILE"), "credentials file")
	return cmd
}

// imageRow is one line of `hutch images`: the fields --format can use.
type imageRow struct {
	Repository   string
	Tag          string
	Digest       string
	ID           string
	CreatedSince string
	CreatedAt    string
	Size         string
	Containers   string
}

func imagesCommand(g *globals) *cobra.Command {
	var quiet, digests, noTrunc, all bool
	var format string
	cmd := &cobra.Command{
		Use:   "images [flags] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			imgs, err := s.Images()
			if err != nil {
				return err
			}
			var rows []imageRow
			for _, img := range imgs {
				for _, r := range rowsOf(img, noTrunc) {
					if len(args) == 1 && !matchRepo(args[0], r) {
						continue
					}
					rows = append(rows, r)
				}
			}
			out := cmd.OutOrStdout()
			if quiet {
				seen := map[string]bool{}
				for _, r := range rows {
					if !seen[r.ID] {
						seen[r.ID] = true
						fmt.Fprintln(out, r.ID)
					}
				}
				return nil
			}
			if format == "" {
				format = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
				if digests {
					format = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
				}
			}
			return printRows(out, format, rows, map[string]string{
				"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
				"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "print only image IDs")
	f.BoolVar(&digests, "digests", false, "show digests")
	f.BoolVar(&noTrunc, "no-trunc", false, "do not truncate IDs")
	f.BoolVarP(&all, "all", "a", false, "show all images (there are no intermediate images: same as without)")
	f.StringVar(&format, "format", "", "Go template (\"table ...\" for a table with headers, or json)")
	return cmd
}

func rowsOf(img *image.Image, noTrunc bool) []imageRow {
	id := img.ID.Encoded()
	if noTrunc {
		id = img.ID.String()
	} else {
		id = id[:12]
	}
	created := img.Config.Created.Time
	base := imageRow{
		ID: id, Size: humanSize(img.Size()), CreatedAt: created.Format("2006-01-02 15:04:05 -0700 MST"),
		CreatedSince: since(created), Containers: "N/A", Digest: "<none>",
	}
	digestOf := func(repo string) string {
		for _, rd := range img.RepoDigests {
			if r, d := reference.Split(rd); r == repo {
				return d
			}
		}
		return "<none>"
	}
	var rows []imageRow
	repos := map[string]bool{}
	for _, n := range img.Names {
		repo, tag := reference.Split(n)
		r := base
		r.Repository, r.Tag, r.Digest = reference.Familiar(repo), tag, digestOf(repo)
		rows = append(rows, r)
		repos[repo] = true
	}
	for _, rd := range img.RepoDigests {
		repo, d := reference.Split(rd)
		if repos[repo] {
			continue
		}
		repos[repo] = true
		r := base
		r.Repository, r.Tag, r.Digest = reference.Familiar(repo), "<none>", d
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		r := base
		r.Repository, r.Tag = "<none>", "<none>"
		rows = append(rows, r)
	}
	return rows
}

func matchRepo(arg string, r imageRow) bool {
	repo, tag := arg, ""
	if i := strings.LastIndex(arg, ":"); i > strings.LastIndex(arg, "/") {
		repo, tag = arg[:i], arg[i+1:]
	}
	if full, err := reference.Normalize(repo); err == nil {
		repo, _ = reference.Split(full)
	}
	rfull := r.Repository
	if full, err := reference.Normalize(r.Repository); err == nil {
		rfull, _ = reference.Split(full)
	}
	return rfull == repo && (tag == "" || tag == r.Tag)
}

// printRows prints rows with a Go template; "table ..." adds a header row
// made of headers and aligns the columns; "json" prints one JSON object a
// line.
func printRows[T any](out io.Writer, format string, rows []T, headers map[string]string) error {
	if format == "json" || format == "{{json .}}" {
		enc := json.NewEncoder(out)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	table := false
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		table, format = true, strings.TrimSpace(rest)
	}
	format = strings.ReplaceAll(format, `\t`, "\t")
	format = strings.ReplaceAll(format, `\n`, "\n")
	tmpl, err := template.New("format").Funcs(templateFuncs).Parse(format + "\n")
	if err != nil {
		return errdefs.InvalidArgument("format: %v", err)
	}
	var w io.Writer = out
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
		w = tw
		// The header: the same template run over the column names.
		h := map[string]string{}
		for k, v := range headers {
			h[k] = v
		}
		if err := tmpl.Execute(w, h); err != nil {
			return errdefs.InvalidArgument("format: %v", err)
		}
	}
	for _, r := range rows {
		if err := tmpl.Execute(w, r); err != nil {
			return errdefs.InvalidArgument("format: %v", err)
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  strings.Join,
}

// humanSize prints a size in decimal units with three significant digits,
// as Docker does (1.23MB).
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

// since prints how long ago t was, as Docker does ("2 hours ago").
func since(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "Less than a second ago"
	case d < time.Minute:
		return plural(int(d.Seconds()), "second")
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute")
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour")
	case d < 14*24*time.Hour:
		return plural(int(d.Hours()/24), "day")
	case d < 60*24*time.Hour:
		return plural(int(d.Hours()/24/7), "week")
	case d < 2*365*24*time.Hour:
		return plural(int(d.Hours()/24/30), "month")
	}
	return plural(int(d.Hours()/24/365), "year")
}

func plural(n int, unit string) string {
	if n == 1 {
		if unit == "hour" {
			return "About an hour ago"
		}
		return "1 " + unit + " ago"
	}
	return fmt.Sprintf("%d %ss ago", n, unit)
}

func rmiCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rmi [flags] IMAGE...",
		Short: "Remove images (blobs go when no image uses them)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var errs []error
			for _, a := range args {
				// As Docker: an image a container was made from stays
				// unless forced (the container keeps its layers either way).
				if !force {
					if err := refuseImageInUse(g, s, a); err != nil {
						errs = append(errs, err)
						continue
					}
				}
				res, err := s.Remove(a, force)
				for _, u := range res.Untagged {
					fmt.Fprintln(out, "Untagged:", reference.Familiar(u))
				}
				for _, d := range res.Deleted {
					fmt.Fprintln(out, "Deleted:", d)
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			if err := gcSnapshots(context.Background(), g, s); err != nil {
				errs = append(errs, err)
			}
			return lastOf(errs)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove an image ID even when several names use it")
	return cmd
}

// refuseImageInUse fails when a container was created from the image ref.
func refuseImageInUse(g *globals, s *image.Store, ref string) error {
	img, err := s.Get(ref)
	if err != nil {
		return nil // Remove reports it
	}
	cs, err := g.engine().List()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ImageID == string(img.ID) {
			return errdefs.Conflict("unable to remove image %q: container %q (%s) is using it: remove the container first, or use --force", ref, c.Name, c.ID[:12])
		}
	}
	return nil
}

// lastOf prints all errors but the last (hutchMain prints that one).
func lastOf(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	for _, e := range errs[:len(errs)-1] {
		fmt.Fprintf(os.Stderr, "hutch: %v\n", e)
	}
	return errs[len(errs)-1]
}

func tagCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE TARGET_IMAGE",
		Short: "Give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			return s.Tag(args[0], args[1])
		},
	}
}

// inspectImage is Docker's image inspect document, for the fields Hutch has.
type inspectImage struct {
	Id            string
	RepoTags      []string
	RepoDigests   []string
	Parent        string
	Comment       string
	Created       string
	DockerVersion string
	Author        string
	Config        *v1.Config
	Architecture  string
	Variant       string `json:",omitempty"`
	Os            string
	OsVersion     string `json:",omitempty"`
	Size          int64
	RootFS        struct {
		Type   string
		Layers []string
	}
	Metadata struct {
		LastTagTime string
	}
	Descriptor v1.Descriptor
}

func inspectOf(img *image.Image) inspectImage {
	c := img.Config
	ii := inspectImage{
		Id: img.ID.String(), RepoTags: []string{}, RepoDigests: []string{},
		Created: c.Created.Time.Format(time.RFC3339Nano), DockerVersion: c.DockerVersion, Author: c.Author,
		Config: &c.Config, Architecture: c.Architecture, Variant: c.Variant, Os: c.OS, OsVersion: c.OSVersion,
		Size:       img.Size(),
		Descriptor: v1.Descriptor{MediaType: img.MediaType(), Size: int64(len(img.RawManifest))},
	}
	ii.Descriptor.Digest, _ = v1.NewHash(img.Digest.String())
	for _, n := range img.Names {
		ii.RepoTags = append(ii.RepoTags, reference.Familiar(n))
	}
	for _, n := range img.RepoDigests {
		ii.RepoDigests = append(ii.RepoDigests, reference.Familiar(n))
	}
	if len(c.History) > 0 {
		ii.Comment = c.History[len(c.History)-1].Comment
	}
	ii.RootFS.Type = "layers"
	ii.RootFS.Layers = []string{}
	for _, l := range img.Layers() {
		ii.RootFS.Layers = append(ii.RootFS.Layers, l.DiffID.String())
	}
	ii.Metadata.LastTagTime = img.Added.Format(time.RFC3339Nano)
	return ii
}

func inspectCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [flags] IMAGE...",
		Short: "Show images' details as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			var docs []inspectImage
			var errs []error
			for _, a := range args {
				img, err := s.Get(a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				docs = append(docs, inspectOf(img))
			}
			out := cmd.OutOrStdout()
			if format != "" {
				// Templates see the document as JSON objects, as Docker's do.
				var generic []any
				b, _ := json.Marshal(docs)
				json.Unmarshal(b, &generic)
				if err := printRows(out, format, generic, nil); err != nil {
					return err
				}
			} else {
				if docs == nil {
					docs = []inspectImage{}
				}
				b, err := json.MarshalIndent(docs, "", "    ")
				if err != nil {
					return err
				}
				fmt.Fprintln(out, string(b))
			}
			return lastOf(errs)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template")
	return cmd
}

type historyRow struct {
	ID           string
	CreatedSince string
	CreatedAt    string
	CreatedBy    string
	Size         string
	Comment      string
}

func historyCommand(g *globals) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "history [flags] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			img, err := s.Get(args[0])
			if err != nil {
				return err
			}
			layers := img.Layers()
			hist := img.Config.History
			if len(hist) == 0 { // no history: one entry per layer
				for range layers {
					hist = append(hist, v1.History{})
				}
			}
			var rows []historyRow
			li := 0
			for _, h := range hist {
				r := historyRow{ID: "<missing>", CreatedAt: h.Created.Time.Format(time.RFC3339), CreatedSince: since(h.Created.Time), CreatedBy: h.CreatedBy, Comment: h.Comment, Size: "0B"}
				if !h.EmptyLayer && li < len(layers) {
					r.Size = humanSize(layers[li].Descriptor.Size)
					li++
				}
				if !noTrunc && len(r.CreatedBy) > 45 {
					r.CreatedBy = r.CreatedBy[:44] + "…"
				}
				rows = append(rows, r)
			}
			// Newest first, the top one named by the image ID.
			for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
				rows[i], rows[j] = rows[j], rows[i]
			}
			if len(rows) > 0 {
				rows[0].ID = img.ID.Encoded()[:12]
				if noTrunc {
					rows[0].ID = img.ID.String()
				}
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, r := range rows {
					fmt.Fprintln(out, r.ID)
				}
				return nil
			}
			if format == "" {
				format = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
			}
			return printRows(out, format, rows, map[string]string{
				"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate")
	cmd.Flags().StringVar(&format, "format", "", "Go template")
	return cmd
}

func pruneCommand(g *globals) *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Remove dangling images (with -a, every image no container uses) and the blobs only they held",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			// The engine's prune: an image a container was made from
			// stays, as Docker's.
			rep, err := g.engine().PruneImages(ctx, all)
			if err != nil {
				return err
			}
			s, err := openStore(g)
			if err != nil {
				return err
			}
			if _, err := s.GC(); err != nil {
				return err
			}
			// Ingests of pulls that died long ago (an interrupted pull
			// resumes from a fresh one).
			s.Content().Prune(24 * time.Hour)
			if err := gcSnapshots(ctx, g, s); err != nil {
				return err
			}
			printPruneReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove every image no container uses, not only dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt (hutch never prompts)")
	return cmd
}

func saveCommand(g *globals) *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "save [flags] IMAGE...",
		Short: "Save images to a docker-archive tarball (or an OCI archive or directory)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			if output == "" {
				if isTerminal(os.Stdout) {
					return errdefs.InvalidArgument("save: refusing to write an archive to a terminal: use -o FILE")
				}
				output = "-"
			}
			if output == "-" && saveload.Format(format) == saveload.OCIDir {
				return errdefs.InvalidArgument("save: oci-dir needs -o DIR")
			}
			ctx, cancel := signalContext()
			defer cancel()
			return saveload.Save(ctx, s, output, saveload.Format(format), args)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "file (directory for oci-dir) to write; default standard output")
	cmd.Flags().StringVar(&format, "format", "docker-archive", "docker-archive, oci-archive or oci-dir")
	return cmd
}

func loadCommand(g *globals) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [flags]",
		Short: "Load images from a docker-archive, an OCI archive or an OCI layout directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStoreToAdd(g)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			if input == "" || input == "-" {
				if isTerminal(os.Stdin) {
					return errdefs.InvalidArgument("load: give an archive with -i FILE or on standard input")
				}
				// A tar on a pipe cannot be read twice: spool it.
				f, err := os.CreateTemp(s.Root(), ".load-*.tar")
				if err != nil {
					return err
				}
				defer os.Remove(f.Name())
				_, err = io.Copy(f, cmd.InOrStdin())
				f.Close()
				if err != nil {
					return err
				}
				input = f.Name()
			}
			imgs, err := saveload.Load(ctx, s, input, saveload.LoadOptions{})
			if err != nil {
				return err
			}
			if err := unpackImages(ctx, g, s, imgs...); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, img := range imgs {
				if len(img.Names) == 0 {
					fmt.Fprintln(out, "Loaded image ID:", img.ID)
				}
				for _, n := range img.Names {
					fmt.Fprintln(out, "Loaded image:", reference.Familiar(n))
				}
			}
			_ = quiet
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "archive file or OCI layout directory (default standard input)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "accepted for Docker compatibility")
	return cmd
}

func importCommand(g *globals) *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use:   "import [flags] FILE|- [REPOSITORY[:TAG]]",
		Short: "Make a one-layer image from a root filesystem tarball",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStoreToAdd(g)
			if err != nil {
				return err
			}
			o := saveload.ImportOptions{Message: message}
			if len(args) == 2 {
				o.Name = args[1]
			}
			for _, c := range changes {
				if err := imagechange.Apply(&o.Config, c); err != nil {
					return err
				}
			}
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import %s: %w", args[0], err)
				}
				defer f.Close()
				r = f
			}
			ctx, cancel := signalContext()
			defer cancel()
			img, err := saveload.Import(ctx, s, r, o)
			if err != nil {
				return err
			}
			if err := unpackImages(ctx, g, s, img); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			return nil
		},
	}
	cli.ListVarP(cmd.Flags(), &changes, "change", "c", "Dockerfile instruction to apply: "+imagechange.Instructions)
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message for the history")
	return cmd
}

// progress renders transfer events: on a terminal, one live line per blob
// redrawn in place; otherwise one line per blob when it is done.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	tty   bool
	quiet bool
	order []digest.Digest
	state map[digest.Digest]image.Progress
	drawn int
	last  time.Time
	done  bool
}

func newProgress(out io.Writer, quiet bool) *progress {
	f, ok := out.(*os.File)
	return &progress{out: out, tty: ok && isTerminal(f), quiet: quiet, state: map[digest.Digest]image.Progress{}}
}

func shortDigest(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return d.Algorithm().String() + ":" + e
}

func (p *progress) update(ev image.Progress) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	if ev.Kind == "manifest" {
		if ev.Status == image.Done && !p.tty {
			fmt.Fprintln(p.out, "Writing manifest to image destination")
		}
		return
	}
	old, seen := p.state[ev.Digest]
	if !seen {
		p.order = append(p.order, ev.Digest)
	}
	p.state[ev.Digest] = ev
	if !p.tty {
		if (ev.Status == image.Done || ev.Status == image.Skipped || ev.Status == image.Failed) && old.Status != ev.Status {
			fmt.Fprintln(p.out, lineOf(ev))
		}
		return
	}
	if ev.Status == image.Copying && old.Status == image.Copying && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.redraw()
}

func lineOf(ev image.Progress) string {
	head := fmt.Sprintf("Copying %s %s", ev.Kind, shortDigest(ev.Digest))
	switch ev.Status {
	case image.Done:
		return head + " done"
	case image.Skipped:
		return head + " skipped: already exists"
	case image.Failed:
		return head + " failed"
	case image.Waiting:
		return head + " waiting"
	}
	if ev.Size <= 0 {
		return fmt.Sprintf("%s %s", head, humanSize(ev.Done))
	}
	const width = 30
	n := int(int64(width) * ev.Done / ev.Size)
	n = min(max(n, 0), width)
	return fmt.Sprintf("%s [%s%s] %s / %s", head, strings.Repeat("=", n), strings.Repeat(" ", width-n), humanSize(ev.Done), humanSize(ev.Size))
}

func (p *progress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	keys := p.order
	for _, k := range keys {
		fmt.Fprintf(&b, "\r\x1b[K%s\n", lineOf(p.state[k]))
	}
	p.drawn = len(keys)
	p.last = time.Now()
	io.WriteString(p.out, b.String())
}

// finish draws the final state once; later events are ignored.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done || p.quiet {
		p.done = true
		return
	}
	if p.tty && len(p.order) > 0 {
		p.redraw()
	}
	p.done = true
}
