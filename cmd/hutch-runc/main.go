// These keep the Go runtime from reading /proc/self/cgroup, mountinfo and
// the CPU quota at every start to size GOMAXPROCS (see cmd/hutch).

//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command hutch-runc is the runc-compatible OCI runtime alone: the same
// command line as `hutch runtime` (cmd/internal/runccli), in a binary that
// links only the runtime. Docker, containerd and Podman start the runtime
// several times per container; without the engine's, images' and
// networks' packages to initialise, each start costs a third less.
package main

import (
	"os"

	"hutch.dev/hutch/cmd/internal/runccli"
	"hutch.dev/hutch/runtime"
	// The nsenter constructor (and the container's init, in C) must run
	// before the Go runtime starts.
	_ "hutch.dev/hutch/runtime/nsenter"
)

func main() {
	runtime.TraceMain()
	os.Exit(runccli.Main("hutch-runc", os.Args[1:]))
}
