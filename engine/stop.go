package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cgroups"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/signame"
	"hutch.dev/hutch/runtime"
)

// DefaultStopTimeout is Docker's grace period between the stop signal and
// SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// Stop sends the container's stop signal, waits up to timeout (nil: the
// container's own, else 10 s) for it to end, then kills it. Stopping a
// stopped container does nothing.
func (e *Engine) Stop(ctx context.Context, ref string, timeout *time.Duration, signal string) (*Container, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	r, err := e.update(id, func(r *record) error {
		if r.State.Running {
			r.State.StoppedByUser = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !r.State.Running {
		return &r.Container, nil
	}
	grace := DefaultStopTimeout
	if r.Config.StopTimeout != nil {
		grace = time.Duration(*r.Config.StopTimeout) * time.Second
	}
	if timeout != nil {
		grace = *timeout
	}
	if signal == "" {
		signal = r.Config.StopSignal
	}
	sig := unix.SIGTERM
	if signal != "" {
		if sig, err = signame.Parse(signal); err != nil {
			return nil, errdefs.InvalidArgument("container %q: stop signal %q: %v", r.Name, signal, err)
		}
	}
	if grace != 0 {
		if err := e.signal(r, sig, false); err != nil {
			return nil, err
		}
		if c, err := e.waitStopped(ctx, id, grace); err == nil {
			return c, nil
		} else if !errors.Is(err, errTimeout) {
			return nil, err
		}
	}
	if err := e.signal(r, unix.SIGKILL, true); err != nil {
		return nil, err
	}
	return e.waitStopped(ctx, id, -1)
}

var errTimeout = errors.New("timed out")

// Kill sends sig to the container's init (Docker's kill).
func (e *Engine) Kill(ctx context.Context, ref string, signal string) (*Container, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	sig := unix.SIGKILL
	if signal != "" {
		if sig, err = signame.Parse(signal); err != nil {
			return nil, errdefs.InvalidArgument("invalid signal %q: %v", signal, err)
		}
	}
	r, err := e.update(id, func(r *record) error {
		if !r.State.Running {
			return errdefs.Conflict("container %q is not running", r.Name)
		}
		// Docker: a killed container counts as stopped by the user for
		// unless-stopped, but always and on-failure restart it.
		if sig == unix.SIGKILL || sig == unix.SIGTERM {
			r.State.StoppedByUser = r.HostConfig.RestartPolicy.Name == "unless-stopped"
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &r.Container, e.signal(r, sig, sig == unix.SIGKILL)
}

// signal sends sig to the container's init, or with all to every process
// of it. A paused container is thawed after a stop signal or SIGKILL, as
// Docker does, so that the signal acts at once; its record says running
// again.
func (e *Engine) signal(r *record, sig unix.Signal, all bool) error {
	c, err := e.loadRuntime(r.ID)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil // ended meanwhile
		}
		return wrap(&r.Container, "signal", err)
	}
	if err := c.Kill(sig, all); err != nil && !errdefs.IsFailedPrecondition(err) {
		return wrap(&r.Container, "signal", err)
	}
	if c.Status() == runtime.StatusPaused && (all || sig == unix.SIGKILL || sig == unix.SIGTERM || r.State.StoppedByUser) {
		if err := c.Resume(); err == nil {
			e.update(r.ID, func(r *record) error {
				if r.State.Status == StatusPaused {
					r.State.setStatus(StatusRunning)
				}
				return nil
			})
		}
	}
	return nil
}

// waitStopped polls the record until the container is no longer running
// (the monitor wrote its end), up to d (negative: no limit). A container
// whose monitor is gone is finished here.
func (e *Engine) waitStopped(ctx context.Context, id string, d time.Duration) (*Container, error) {
	deadline := time.Now().Add(d)
	delay := time.Millisecond
	for {
		r, err := e.readRecord(id)
		if errdefs.IsNotFound(err) {
			return nil, err // --rm removed it
		}
		if err != nil {
			return nil, err
		}
		if !r.State.Running {
			return &r.Container, nil
		}
		if !e.monitorAlive(&r.Container) {
			if err := e.finishLost(id); err != nil {
				return nil, err
			}
			continue
		}
		if d >= 0 && time.Now().After(deadline) {
			return nil, errTimeout
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// finishLost ends a container whose monitor is gone: it kills what is left,
// deletes it from the runtime, tears down and records the end.
func (e *Engine) finishLost(id string) error {
	_, err := e.update(id, func(r *record) error {
		if !r.State.Running || e.monitorAlive(&r.Container) {
			return nil
		}
		if c, err := e.loadRuntime(id); err == nil {
			c.Kill(unix.SIGKILL, true)
			for i := 0; i < 200 && c.Status() == runtime.StatusRunning; i++ {
				time.Sleep(10 * time.Millisecond)
			}
			c.Delete(true)
		}
		e.teardown(id)
		e.markLost(&r.Container)
		return nil
	})
	return err
}

// Wait blocks until the container is not running and returns its exit
// code (Docker's wait).
func (e *Engine) Wait(ctx context.Context, ref string) (int, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return 0, err
	}
	c, err := e.waitStopped(ctx, id, -1)
	if err != nil {
		return 0, err
	}
	return c.State.ExitCode, nil
}

// Remove deletes the container ref: its record, writable layer and
// runtime leftovers. A running container needs force (it is killed).
func (e *Engine) Remove(ctx context.Context, ref string, force, volumes bool) error {
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	c, err := e.Inspect(id)
	if err != nil {
		return err
	}
	if c.State.Running {
		if !force {
			return errdefs.Conflict("container %q is %s: stop it before removing it, or use --force", c.Name, c.State.Status)
		}
		e.update(id, func(r *record) error {
			r.State.StoppedByUser = true
			r.HostConfig.RestartPolicy.Name = "no"
			return nil
		})
		if err := e.signal(&record{Container: *c}, unix.SIGKILL, true); err != nil {
			return err
		}
		if _, err := e.waitStopped(ctx, id, -1); err != nil {
			if errdefs.IsNotFound(err) {
				return nil // its --rm got there first
			}
			return err
		}
	}
	return e.removeRecord(ctx, id, volumes)
}

// removeRecord removes a stopped container and everything it holds. It is
// idempotent: what is already gone is skipped, so a removal interrupted
// at any step is finished by the next one.
func (e *Engine) removeRecord(ctx context.Context, id string, volumes bool) error {
	if err := e.open(); err != nil {
		return err
	}
	l, err := e.lockContainer(id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	defer l.Unlock()
	r, err := e.readRecord(id)
	if err != nil {
		return err
	}
	if r.State.Running && e.monitorAlive(&r.Container) {
		return errdefs.Conflict("container %q is running", r.Name)
	}
	if r.State.Status != StatusRemoving {
		r.State.setStatus(StatusRemoving)
		if err := e.writeRecord(r); err != nil {
			return err
		}
	}
	if c, err := e.loadRuntime(id); err == nil {
		c.Kill(unix.SIGKILL, true)
		if err := c.Delete(true); err != nil {
			return wrap(&r.Container, "remove", err)
		}
	} else {
		// No runtime state (the runroot was emptied under a container
		// that ran): its cgroup, at the path the engine gave it, is only
		// the engine's to remove. Destroy leaves a cgroup that still
		// holds processes.
		if m, err := cgroups.New(containerCgroupsPath(id), id); err == nil {
			m.Destroy()
		}
	}
	if err := e.teardown(id); err != nil {
		return wrap(&r.Container, "remove", err)
	}
	runtime.Tracef("remove: torn down")
	if err := e.sn.Remove(ctx, r.Snapshot); err != nil && !errdefs.IsNotFound(err) {
		return wrap(&r.Container, "remove its writable layer", err)
	}
	runtime.Tracef("remove: snapshot removed")
	if err := e.releaseVolumes(r, volumes); err != nil {
		return wrap(&r.Container, "remove: release its volumes", err)
	}
	e.releaseName(r.Name, id)
	if err := os.RemoveAll(e.containerDir(id)); err != nil {
		return fmt.Errorf("container %q: remove: %w", r.Name, err)
	}
	return nil
}
