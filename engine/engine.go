// Package engine is where images, storage, networks and the runtime meet:
// it creates, starts, stops and removes containers and owns their records.
// There is no daemon: every call works from the state on disk under
// Engine.Root (records, images, layers) and Engine.Runroot (live runtime
// state), and locks what it changes, so concurrent commands are safe.
package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"hutch.dev/hutch/image"
	"hutch.dev/hutch/image/unpack"
	"hutch.dev/hutch/runtime"
	"hutch.dev/hutch/snapshot"
)

// Engine is a handle on one pair of roots.
type Engine struct {
	Root          string // images, layers, container records, volumes
	Runroot       string // bundles, runtime state, attach sockets
	StorageDriver string // "", overlay or native
	// Exe is the binary the monitor is started from (default
	// /proc/self/exe): `EXE monitor ID`.
	Exe string

	once   sync.Once
	images *image.Store
	sn     snapshot.Snapshotter
	err    error
}

// New returns an engine on root and runroot; nothing is opened until used.
func New(root, runroot, storageDriver string) *Engine {
	return &Engine{Root: root, Runroot: runroot, StorageDriver: storageDriver, Exe: "/proc/self/exe"}
}

// open opens the image store and the snapshotter once.
func (e *Engine) open() error {
	e.once.Do(func() {
		for _, d := range []string{e.containersDir(), filepath.Join(e.Runroot, "containers")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				e.err = err
				return
			}
		}
		e.images, e.err = image.Open(e.Root)
		if e.err != nil {
			return
		}
		e.sn, _, e.err = unpack.Open(e.Root, e.StorageDriver)
	})
	return e.err
}

// Images returns the image store.
func (e *Engine) Images() (*image.Store, error) {
	if err := e.open(); err != nil {
		return nil, err
	}
	return e.images, nil
}

// Snapshotter returns the layer store.
func (e *Engine) Snapshotter() (snapshot.Snapshotter, error) {
	if err := e.open(); err != nil {
		return nil, err
	}
	return e.sn, nil
}

// loadRuntime opens the OCI runtime's handle on the container id.
func (e *Engine) loadRuntime(id string) (*runtime.Container, error) {
	return runtime.Load(e.runtimeRoot(), id)
}

func wrap(c *Container, op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("container %q: %s: %w", c.Name, op, err)
}
