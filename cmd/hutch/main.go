// These keep the Go runtime from reading /proc/self/cgroup, mountinfo and
// the CPU quota at every start to size GOMAXPROCS: hutch is a short-lived
// command (and the container's init), and those reads cost more than they
// could save.

//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command hutch is Hutch's one binary: the container engine, the OCI
// runtime (as `hutch-runc` or `hutch runtime VERB`), and the hidden
// `init` that becomes a container's first process.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/runtime"
	// The nsenter constructor must run before the Go runtime starts.
	_ "hutch.dev/hutch/runtime/nsenter"
)

var version = "0.1.0-dev"

func main() {
	runtime.TraceMain()
	if len(os.Args) > 1 && os.Args[1] == "init" {
		runtime.Init() // never returns
	}
	if filepath.Base(os.Args[0]) == "hutch-runc" {
		os.Exit(runcMain("hutch-runc", os.Args[1:]))
	}
	os.Exit(hutchMain(os.Args[1:]))
}

func hutchMain(args []string) int {
	root := &cobra.Command{
		Use:           "hutch",
		Short:         "A daemonless container engine",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:                "runtime VERB [ARGS...]",
		Short:              "The runc-compatible OCI runtime (same as hutch-runc)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			os.Exit(runcMain("hutch runtime", args))
			return nil
		},
	})
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "hutch: %v\n", err)
		return 125
	}
	return 0
}
