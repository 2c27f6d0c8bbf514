package engine

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/spec"
)

// buildSpec turns the record into the runtime spec of one start, with
// rootfs (mounted) as its root. (Interim: the spec package's Build
// replaces this.)
func (e *Engine) buildSpec(r *record, rootfs string) (*specs.Spec, error) {
	s := spec.Default()
	s.Root = &specs.Root{Path: rootfs, Readonly: r.HostConfig.ReadonlyRootfs}
	s.Process.Args = append(append([]string(nil), r.Config.Entrypoint...), r.Config.Cmd...)
	s.Process.Env = r.Config.Env
	s.Process.Terminal = r.Config.Tty
	if r.Config.WorkingDir != "" {
		s.Process.Cwd = r.Config.WorkingDir
	}
	s.Hostname = r.Config.Hostname
	if s.Hostname == "" {
		s.Hostname = ShortID(r.ID)
	}
	s.Linux.CgroupsPath = filepath.Join("/hutch", r.ID)
	return s, nil
}
