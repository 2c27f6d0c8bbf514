package engine

import (
	"context"
	"strings"
	"time"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime"
)

// Pause freezes every process of the container ref (Docker's pause). The
// freeze and the "paused" status are made under the container's lock, so
// a concurrent unpause, stop or monitor update sees one or the other.
func (e *Engine) Pause(ctx context.Context, ref string) (*Container, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	r, err := e.update(id, func(r *record) error {
		switch {
		case r.State.Status == StatusPaused:
			return errdefs.Conflict("container %q is already paused", r.Name)
		case r.State.Status != StatusRunning || !e.monitorAlive(&r.Container):
			return errdefs.Conflict("container %q is not running", r.Name)
		}
		c, err := e.loadRuntime(id)
		if err != nil {
			return wrap(&r.Container, "pause", err)
		}
		if err := c.Pause(); err != nil {
			return wrap(&r.Container, "pause", err)
		}
		r.State.setStatus(StatusPaused)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &r.Container, nil
}

// Unpause thaws a paused container (Docker's unpause).
func (e *Engine) Unpause(ctx context.Context, ref string) (*Container, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	r, err := e.update(id, func(r *record) error {
		if r.State.Status != StatusPaused {
			return errdefs.Conflict("container %q is not paused", r.Name)
		}
		c, err := e.loadRuntime(id)
		if err != nil {
			return wrap(&r.Container, "unpause", err)
		}
		// The runtime looks at the freezer itself: a cgroup thawed behind
		// our back (or a record left "paused" by a crash) is running.
		if c.Status() == runtime.StatusPaused {
			if err := c.Resume(); err != nil {
				return wrap(&r.Container, "unpause", err)
			}
		}
		r.State.setStatus(StatusRunning)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &r.Container, nil
}

// Restart stops the container ref (as Stop, with timeout) and starts it
// again: the same container, ID, record and log. A stopped container is
// just started, as in Docker. A paused one is thawed first so that it
// sees its stop signal at once instead of after the grace period. A
// --rm container stays: it is removed when it ends by itself.
func (e *Engine) Restart(ctx context.Context, ref string, timeout *time.Duration) (*Container, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if _, err := e.Unpause(ctx, id); err != nil && !errdefs.IsConflict(err) {
		return nil, err
	}
	// The monitor removes a --rm container when it ends; a restart must
	// not (Docker marks it manually restarted). The record says so for
	// the time of the stop: the monitor reads AutoRemove at the end.
	var autoRemove bool
	if _, err := e.update(id, func(r *record) error {
		autoRemove = r.HostConfig.AutoRemove
		r.HostConfig.AutoRemove = false
		return nil
	}); err != nil {
		return nil, err
	}
	if autoRemove {
		defer e.update(id, func(r *record) error {
			r.HostConfig.AutoRemove = true
			return nil
		})
	}
	if _, err := e.Stop(ctx, id, timeout, ""); err != nil {
		return nil, err
	}
	return e.Start(ctx, id, StartOptions{})
}

// Rename gives the container ref the name newName (Docker's rename). The
// new name link is made first (a symlink, created atomically, so of two
// commands that want one name only one gets it), then the record, then
// the old link goes; all under the container's lock.
func (e *Engine) Rename(ctx context.Context, ref, newName string) error {
	newName = strings.TrimPrefix(newName, "/")
	if newName == "" {
		return errdefs.InvalidArgument("new name must not be empty")
	}
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	var old string
	_, err = e.update(id, func(r *record) error {
		old = r.Name
		if old == newName {
			return errdefs.InvalidArgument("container %q: renaming a container with the same name as its current name", old)
		}
		if err := e.reserveName(newName, id); err != nil {
			return err
		}
		r.Name = newName
		return nil
	})
	if err != nil {
		if old != "" && old != newName {
			// The record was not written: give the new name back if we
			// took it (releaseName leaves another container's link).
			e.releaseName(newName, id)
		}
		return err
	}
	e.releaseName(old, id)
	return nil
}
