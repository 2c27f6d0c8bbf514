package engine

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime"
	"hutch.dev/hutch/runtime/specconv"
	"hutch.dev/hutch/spec"
)

// ExecOptions describe a process to run in a running container.
type ExecOptions struct {
	Cmd         []string
	Env         []string
	WorkingDir  string
	User        string
	Tty         bool
	Privileged  bool
	Interactive bool
}

// PrepareExec returns the runtime's handle on the running container ref
// and the process to start in it: the container's own process settings
// (capabilities, no_new_privs, rlimits, environment) with o applied, as
// Docker's exec does.
func (e *Engine) PrepareExec(ref string, o ExecOptions) (*Container, *runtime.Container, *specs.Process, error) {
	c, err := e.Inspect(ref)
	if err != nil {
		return nil, nil, nil, err
	}
	if c.State.Status == StatusPaused {
		return nil, nil, nil, errdefs.Conflict("container %q is paused: unpause it first", c.Name)
	}
	if !c.State.Running {
		return nil, nil, nil, errdefs.Conflict("container %q is not running", c.Name)
	}
	if len(o.Cmd) == 0 {
		return nil, nil, nil, errdefs.InvalidArgument("exec: no command given")
	}
	rc, err := e.loadRuntime(c.ID)
	if err != nil {
		return nil, nil, nil, wrap(c, "exec", err)
	}
	base := rc.State.Config.Process
	p := *base
	p.Args = o.Cmd
	p.Terminal = o.Tty
	p.ConsoleSize = nil
	p.Env = mergeEnv(base.Env, o.Env)
	if o.Tty {
		p.Env = mergeEnv(p.Env, []string{"TERM=xterm"})
	}
	if o.WorkingDir != "" {
		p.Cwd = o.WorkingDir
	}
	if o.User != "" {
		u, _, err := spec.ResolveUser(filepath.Join(e.bundleDir(c.ID), "rootfs"), o.User)
		if err != nil {
			return nil, nil, nil, wrap(c, "exec", err)
		}
		p.User = u
	}
	if o.Privileged {
		all := specconv.AllCapabilities()
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	return c, rc, &p, nil
}
