package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/engine"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
)

// The filesystem verbs: cp, diff, commit, export.
func init() {
	moreContainerCommands = append(moreContainerCommands, cpCommand, diffCommand, commitCommand, exportCommand)
}

func cpCommand(g *globals) *cobra.Command {
	var o engine.CopyOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  hutch cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files or folders between a container and the local filesystem",
		Long: `Copy files or folders between a container and the local filesystem.

Use '-' as the source to read a tar archive from stdin and extract it to a
directory destination in a container. Use '-' as the destination to stream
a tar archive of a container source to stdout.

Paths in the container are resolved inside its root filesystem: symbolic
links and ".." never lead out of it. Mounts inside a running container
(volumes, binds, tmpfs) are not seen: the copy reads and writes its
root filesystem.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcC, srcP := splitCopyArg(args[0])
			dstC, dstP := splitCopyArg(args[1])
			switch {
			case srcC != "" && dstC != "":
				return errdefs.InvalidArgument("copying between containers is not supported")
			case srcC == "" && dstC == "":
				return errdefs.InvalidArgument("must specify at least one container source")
			case srcP == "" || dstP == "":
				return errdefs.InvalidArgument("copy: a path must not be empty")
			}
			ctx, cancel := signalContext()
			defer cancel()
			e := g.engine()
			if srcC != "" {
				return e.CopyFrom(ctx, srcC, srcP, o, func(src engine.CopySource, r io.Reader) error {
					if dstP == "-" {
						_, err := io.Copy(cmd.OutOrStdout(), r)
						return err
					}
					return engine.CopyToHost(ctx, dstP, src, r, o)
				})
			}
			if srcP == "-" {
				// A compressed archive is accepted too, as Docker does.
				r, err := image.Decompress(cmd.InOrStdin())
				if err != nil {
					return errdefs.InvalidArgument("copy: standard input: %v", err)
				}
				defer r.Close()
				return e.CopyTo(ctx, dstC, dstP, engine.CopySource{Stream: true}, r, o)
			}
			return engine.CopyFromHost(ctx, srcP, o, func(src engine.CopySource, r io.Reader) error {
				return e.CopyTo(ctx, dstC, dstP, src, r, o)
			})
		},
	}
	cmd.Flags().BoolVarP(&o.Archive, "archive", "a", false, "archive mode (copy all uid/gid information)")
	cmd.Flags().BoolVarP(&o.Follow, "follow-link", "L", false, "always follow symbol link in SRC_PATH")
	cmd.Flags().BoolP("quiet", "q", false, "accepted for Docker compatibility (no progress is printed)")
	return cmd
}

// splitCopyArg splits CONTAINER:PATH as Docker does: a path that starts
// with "/" or "." is local even if it holds a colon; otherwise what
// precedes the first colon names a container.
func splitCopyArg(arg string) (container, path string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	c, p, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg
	}
	return c, p
}

func diffCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Long: `List the files and directories changed in a container's filesystem since
it was created: A added, C changed, D deleted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			changes, err := g.engine().Diff(ctx, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, c := range changes {
				fmt.Fprintln(out, c)
			}
			return nil
		},
	}
}

func commitCommand(g *globals) *cobra.Command {
	var o engine.CommitOptions
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				o.Name = args[1]
			}
			ctx, cancel := signalContext()
			defer cancel()
			img, err := g.engine().Commit(ctx, args[0], o)
			if img != nil {
				fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.Author, "author", "a", "", `author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	fs.StringVarP(&o.Message, "message", "m", "", "commit message")
	cli.ListVarP(fs, &o.Changes, "change", "c", "apply Dockerfile instruction to the created image")
	fs.BoolVarP(&o.Pause, "pause", "p", true, "pause the container during commit")
	return cmd
}

func exportCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			e := g.engine()
			if output == "" {
				if f, ok := cmd.OutOrStdout().(*os.File); ok && isTerminal(f) {
					return errdefs.InvalidArgument("cowardly refusing to save to a terminal: use the -o flag or redirect")
				}
				return e.Export(ctx, args[0], cmd.OutOrStdout())
			}
			// Written beside the file and renamed into place, so a failed
			// export leaves neither a partial file nor a temporary one.
			f, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".tmp-")
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			defer os.Remove(f.Name())
			if err := e.Export(ctx, args[0], f); err != nil {
				f.Close()
				return err
			}
			if err := f.Chmod(0o644); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if err := os.Rename(f.Name(), output); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file, instead of STDOUT")
	return cmd
}
