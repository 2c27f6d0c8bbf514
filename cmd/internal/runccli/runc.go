package runccli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/errdefs"
)

// runcGlobals are runc's global flags.
type runcGlobals struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	systemdCgroup bool
	rootless      string
	criu          string

	logFile io.Writer
}

// Main runs the runc command line named name (hutch-runc, or
// "hutch runtime") with args and returns the exit status.
func Main(name string, args []string) int {
	g := &runcGlobals{}
	root := &cobra.Command{
		Use:           name,
		Short:         "Hutch's OCI runtime, with runc's command line",
		Version:       cli.Version + "\nspec: 1.3.0",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.setupLog()
		},
	}
	root.SetVersionTemplate(name + " version {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&g.root, "root", defaultRuncRoot(), "root directory for storage of container state")
	pf.StringVar(&g.log, "log", "", "log file for the runtime's own messages (default: stderr)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.BoolVar(&g.debug, "debug", false, "enable debug logging")
	pf.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "use the systemd cgroup driver (not available: refused)")
	pf.StringVar(&g.rootless, "rootless", "auto", "ignore cgroup permission errors (true, false, auto)")
	pf.StringVar(&g.criu, "criu", "criu", "path to criu (checkpoint/restore is not supported)")

	root.AddCommand(
		g.createCmd(), g.startCmd(), g.runCmd(), g.stateCmd(), g.killCmd(), g.deleteCmd(),
		g.execCmd(), g.psCmd(), g.listCmd(), g.pauseCmd(), g.resumeCmd(), g.eventsCmd(),
		g.updateCmd(), specCmd(), featuresCmd(), unsupportedCmd("checkpoint"), unsupportedCmd("restore"),
	)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ec *cli.ExitCodeError
	if errors.As(err, &ec) {
		return ec.Code
	}
	g.logError(name, err)
	return 1
}

func defaultRuncRoot() string {
	if os.Geteuid() != 0 {
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
			return dir + "/hutch-runc"
		}
	}
	return "/run/hutch-runc"
}

// setupLog sends the library's slog records to --log in the chosen
// format. Levels are written lower case: containerd and Podman read the
// last {"level":"error","msg":...} line of a runtime's JSON log.
func (g *runcGlobals) setupLog() error {
	if g.logFormat != "text" && g.logFormat != "json" {
		return errdefs.InvalidArgument("--log-format %q: must be text or json", g.logFormat)
	}
	var w io.Writer = os.Stderr
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log %s: %w", g.log, err)
		}
		w = f
	}
	g.logFile = w
	level := slog.LevelWarn
	if g.debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey {
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
		}
		return a
	}}
	if g.logFormat == "json" {
		slog.SetDefault(slog.New(slog.NewJSONHandler(w, opts)))
	} else {
		slog.SetDefault(slog.New(slog.NewTextHandler(w, opts)))
	}
	return nil
}

// logError reports a failed command: one line on stderr for people, and
// the same as a log record for the caller that reads --log.
func (g *runcGlobals) logError(name string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	if g.log == "" || g.logFile == nil {
		return
	}
	if g.logFormat == "json" {
		line, _ := json.Marshal(map[string]string{
			"level": "error", "msg": err.Error(), "time": time.Now().UTC().Format(time.RFC3339Nano),
		})
		g.logFile.Write(append(line, '\n'))
	} else {
		fmt.Fprintf(g.logFile, "time=%q level=error msg=%q\n", time.Now().UTC().Format(time.RFC3339Nano), err.Error())
	}
}

func unsupportedCmd(name string) *cobra.Command {
	return &cobra.Command{
		Use:                name,
		Short:              name + " (not supported)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errdefs.NotImplemented("%s is not supported by hutch-runc", name)
		},
	}
}
