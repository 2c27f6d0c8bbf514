package runtime

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cgroups"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime/specconv"
)

// cgroupManager loads the container's cgroup manager from its recorded
// paths once per handle (loading reads the mount table).
func (c *Container) cgroupManager() (cgroups.Manager, error) {
	if c.mgr != nil || len(c.State.CgroupPaths) == 0 {
		return c.mgr, nil
	}
	mgr, err := cgroups.Load(c.State.CgroupPaths)
	if err != nil {
		return nil, err
	}
	c.mgr = mgr
	return mgr, nil
}

func (c *Container) notIn(status string, allowed ...string) error {
	for _, a := range allowed {
		if status == a {
			return nil
		}
	}
	return errdefs.FailedPrecondition("container %q is %s", c.State.ID, status)
}

// Start releases a created container's init: it opens the exec fifo, on
// which the init waits, and runs the poststart hooks.
func (c *Container) Start() error {
	lk, err := c.lock()
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if err := c.notIn(c.Status(), StatusCreated); err != nil {
		return fmt.Errorf("%w: only a created container can be started", err)
	}
	fifoPath := filepath.Join(c.dir, execFifoName)
	fd, err := unix.Open(fifoPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("container %q: open exec fifo: %w", c.State.ID, err)
	}
	defer unix.Close(fd)
	// The init opens its end for writing as soon as we are here and
	// writes one byte; then it keeps the fifo open (close-on-exec) until
	// execve. Wait for the byte, then for EOF: the poststart hooks must
	// run after the user's process was executed.
	buf := make([]byte, 1)
	released := false
	for {
		n, err := unix.Read(fd, buf)
		if n == 1 {
			released = true
			continue
		}
		if n == 0 && err == nil && released {
			break // every writer closed: the init has exec'd (or died)
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("container %q: read exec fifo: %w", c.State.ID, err)
		}
		if !c.initAlive() {
			if released {
				break
			}
			return errdefs.FailedPrecondition("container %q: init exited before start", c.State.ID)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 100); err != nil && err != unix.EINTR {
			return fmt.Errorf("container %q: poll exec fifo: %w", c.State.ID, err)
		}
	}
	tracef("start: fifo released")
	os.Remove(fifoPath)
	c.State.Started = true
	if err := c.save(); err != nil {
		return err
	}
	if h := c.State.Config.Hooks; h != nil {
		if err := runHooksWarn("poststart", h.Poststart, c.hookState(StatusRunning)); err != nil {
			// The spec: a failing poststart hook is a warning only.
			slog.Warn("poststart hook failed", "container", c.State.ID, "error", err)
		}
	}
	return nil
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroup.
func (c *Container) Kill(sig unix.Signal, all bool) error {
	status := c.Status()
	if status == StatusStopped {
		if all {
			// containerd sends `kill --all` after the init of a
			// container sharing the host's pid namespace is gone, to
			// catch stragglers; runc accepts it, so do we.
			c.signalAll(sig)
			return nil
		}
		return errdefs.FailedPrecondition("container %q is not running", c.State.ID)
	}
	if !all {
		return c.signalInit(sig)
	}
	return c.signalAll(sig)
}

func (c *Container) signalAll(sig unix.Signal) error {
	mgr, err := c.cgroupManager()
	if err != nil || mgr == nil {
		return c.signalInit(sig)
	}
	pids, err := mgr.Pids()
	if err != nil {
		return fmt.Errorf("container %q: list processes: %w", c.State.ID, err)
	}
	for _, pid := range pids {
		unix.Kill(pid, sig)
	}
	// A frozen process only acts on SIGKILL once thawed.
	if sig == unix.SIGKILL {
		if frozen, _ := mgr.Frozen(); frozen {
			mgr.Thaw()
		}
	}
	return nil
}

// Delete removes a stopped (or created) container; force kills a running
// one first.
func (c *Container) Delete(force bool) error {
	lk, err := c.lock()
	if err != nil {
		return err
	}
	defer lk.Unlock()
	switch status := c.Status(); status {
	case StatusStopped:
	case StatusCreated:
		// Never started: nothing of the user's runs yet (runc does the
		// same).
		c.signalAll(unix.SIGKILL)
		c.waitInitGone()
	default:
		if !force {
			return errdefs.FailedPrecondition("container %q is %s: stop it first or delete with --force", c.State.ID, status)
		}
		c.signalAll(unix.SIGKILL)
		c.waitInitGone()
	}
	tracef("delete: processes gone")
	err = c.destroy()
	tracef("delete: destroyed")
	return err
}

func (c *Container) waitInitGone() {
	for i := 0; i < 1000 && c.initAlive(); i++ {
		var ws unix.WaitStatus
		unix.Wait4(c.State.InitPid, &ws, unix.WNOHANG, nil)
		time.Sleep(5 * time.Millisecond)
	}
}

// destroy removes what create made: the remaining processes (when the
// container shares the host's pid namespace they outlive its init), the
// cgroup, and the state; then runs the poststop hooks.
func (c *Container) destroy() error {
	mgr, err := c.cgroupManager()
	if err != nil {
		return fmt.Errorf("container %q: %w", c.State.ID, err)
	}
	if mgr != nil {
		if _, newPid := specconv.HasNamespace(c.State.Config, specs.PIDNamespace); !newPid {
			if pids, err := mgr.Pids(); err == nil && len(pids) > 0 {
				for _, pid := range pids {
					unix.Kill(pid, unix.SIGKILL)
				}
				if frozen, _ := mgr.Frozen(); frozen {
					mgr.Thaw()
				}
			}
		}
		if err := mgr.Destroy(); err != nil {
			return fmt.Errorf("container %q: %w", c.State.ID, err)
		}
	}
	if h := c.State.Config.Hooks; h != nil {
		if err := runHooksWarn("poststop", h.Poststop, c.hookState(StatusStopped)); err != nil {
			slog.Warn("poststop hook failed", "container", c.State.ID, "error", err)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("container %q: remove state: %w", c.State.ID, err)
	}
	return nil
}

// Pause freezes every process of the container.
func (c *Container) Pause() error {
	if err := c.notIn(c.Status(), StatusRunning, StatusCreated); err != nil {
		return fmt.Errorf("%w: only a running container can be paused", err)
	}
	mgr, err := c.requireCgroup()
	if err != nil {
		return err
	}
	return mgr.Freeze()
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if err := c.notIn(c.Status(), StatusPaused); err != nil {
		return fmt.Errorf("%w: only a paused container can be resumed", err)
	}
	mgr, err := c.requireCgroup()
	if err != nil {
		return err
	}
	return mgr.Thaw()
}

func (c *Container) requireCgroup() (cgroups.Manager, error) {
	mgr, err := c.cgroupManager()
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", c.State.ID, err)
	}
	if mgr == nil {
		return nil, errdefs.FailedPrecondition("container %q has no cgroup", c.State.ID)
	}
	return mgr, nil
}

// Processes lists the pids in the container's cgroup.
func (c *Container) Processes() ([]int, error) {
	if c.Status() == StatusStopped {
		return nil, errdefs.FailedPrecondition("container %q is not running", c.State.ID)
	}
	mgr, err := c.requireCgroup()
	if err != nil {
		return nil, err
	}
	return mgr.Pids()
}

// Stats reads the container's cgroup counters.
func (c *Container) Stats() (*cgroups.Stats, error) {
	if c.Status() == StatusStopped {
		return nil, errdefs.FailedPrecondition("container %q is not running", c.State.ID)
	}
	mgr, err := c.requireCgroup()
	if err != nil {
		return nil, err
	}
	return mgr.Stats()
}

// OOMKillCount is the number of OOM kills in the container's cgroup.
func (c *Container) OOMKillCount() (uint64, error) {
	mgr, err := c.requireCgroup()
	if err != nil {
		return 0, err
	}
	return mgr.OOMKillCount()
}

// Update changes the resource limits of a live container and records them.
func (c *Container) Update(r *specs.LinuxResources) error {
	lk, err := c.lock()
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if c.Status() == StatusStopped {
		return errdefs.FailedPrecondition("container %q is not running", c.State.ID)
	}
	mgr, err := c.requireCgroup()
	if err != nil {
		return err
	}
	if err := mgr.Set(r); err != nil {
		return fmt.Errorf("container %q: update: %w", c.State.ID, err)
	}
	c.State.Config.Linux.Resources = mergeResources(c.State.Config.Linux.Resources, r)
	return c.save()
}

// mergeResources overlays the fields update set on the recorded ones.
func mergeResources(old, upd *specs.LinuxResources) *specs.LinuxResources {
	if old == nil {
		return upd
	}
	out := *old
	if upd.Memory != nil {
		out.Memory = upd.Memory
	}
	if upd.CPU != nil {
		out.CPU = upd.CPU
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if upd.HugepageLimits != nil {
		out.HugepageLimits = upd.HugepageLimits
	}
	if upd.Unified != nil {
		out.Unified = upd.Unified
	}
	return &out
}
