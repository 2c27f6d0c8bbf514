// These keep the Go runtime from reading /proc/self/cgroup, mountinfo and
// the CPU quota at every start to size GOMAXPROCS: hutch is a short-lived
// command (and the container's init), and those reads cost more than they
// could save.

//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command hutch is Hutch's one binary: the container engine, the OCI
// runtime (as `hutch-runc` or `hutch runtime VERB`), the monitor, and (in
// C, before the Go runtime starts) the init that becomes a container's
// first process.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/cmd/internal/runccli"
	"hutch.dev/hutch/runtime"
	// The monitor's C relay is a constructor too (see monitor/relay).
	_ "hutch.dev/hutch/monitor/relay"
	// The nsenter constructor must run before the Go runtime starts.
	_ "hutch.dev/hutch/runtime/nsenter"
)

func main() {
	runtime.TraceMain()
	if filepath.Base(os.Args[0]) == "hutch-init" {
		os.Exit(reaperMain(os.Args[1:]))
	}
	if filepath.Base(os.Args[0]) == "hutch-runc" {
		os.Exit(runccli.Main("hutch-runc", os.Args[1:]))
	}
	os.Exit(hutchMain(os.Args[1:]))
}

// globals are the engine's global flags, as Podman's.
type globals struct {
	root          string // images, layers, records
	runroot       string // runtime state
	logLevel      string
	storageDriver string // overlay, native, or "" to choose
}

func defaultRoots() (root, runroot string) {
	if os.Geteuid() != 0 {
		data := os.Getenv("XDG_DATA_HOME")
		if data == "" {
			data = filepath.Join(os.Getenv("HOME"), ".local", "share")
		}
		run := os.Getenv("XDG_RUNTIME_DIR")
		if run == "" {
			run = filepath.Join(os.TempDir(), "hutch-"+strconv.Itoa(os.Geteuid()))
		}
		return filepath.Join(data, "hutch"), filepath.Join(run, "hutch")
	}
	return "/var/lib/hutch", "/run/hutch"
}

func hutchMain(args []string) int {
	g := &globals{}
	root := &cobra.Command{
		Use:           "hutch",
		Short:         "A daemonless container engine",
		Version:       cli.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	defRoot, defRunroot := defaultRoots()
	pf := root.PersistentFlags()
	pf.StringVar(&g.root, "root", defRoot, "storage root: images, layers, container records")
	pf.StringVar(&g.runroot, "runroot", defRunroot, "runtime state root")
	pf.StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	pf.StringVar(&g.storageDriver, "storage-driver", os.Getenv("HUTCH_STORAGE_DRIVER"), "layer storage: overlay or native (default: overlay where it works)")
	addImageCommands(root, g)
	root.AddCommand(&cobra.Command{
		Use:                "runtime VERB [ARGS...]",
		Short:              "The runc-compatible OCI runtime (same as hutch-runc)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			os.Exit(runccli.Main("hutch runtime", args))
			return nil
		},
	})
	addContainerCommands(root, g)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		// Docker's convention: the container's own status when it ran,
		// 126/127 when its command could not be run, 125 for our errors.
		var ec *cli.ExitCodeError
		if errors.As(err, &ec) {
			if ec.Err != nil {
				fmt.Fprintf(os.Stderr, "hutch: %v\n", ec.Err)
			}
			return ec.Code
		}
		fmt.Fprintf(os.Stderr, "hutch: %v\n", err)
		return 125
	}
	return 0
}
