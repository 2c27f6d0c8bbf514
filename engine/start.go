package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/mountinfo"
	"hutch.dev/hutch/logfile"
	"hutch.dev/hutch/monitor"
	"hutch.dev/hutch/mount"
	"hutch.dev/hutch/runtime"
	"hutch.dev/hutch/snapshot/overlay"
	"hutch.dev/hutch/store"
)

// StartOptions are the choices of one start.
type StartOptions struct {
	// Attach is the monitor's end of a connected socket pair; the caller
	// keeps the other end and reads the container's output from its first
	// byte (foreground run, start -a).
	Attach *os.File
	// ConsoleSize is the caller's terminal (rows, cols), given to a -t
	// container's pty before its command starts.
	ConsoleSize [2]uint16
}

// Start starts the container ref: it spawns the container's monitor and
// returns once the container runs, or with the reason it could not start.
// Starting a running container does nothing, as in Docker.
func (e *Engine) Start(ctx context.Context, ref string, o StartOptions) (*Container, error) {
	if err := e.open(); err != nil {
		return nil, err
	}
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer syncR.Close()
	var cmd *exec.Cmd
	r, err := e.update(id, func(r *record) error {
		if e.monitorAlive(&r.Container) {
			if r.State.Status == StatusPaused {
				return errdefs.Conflict("container %q is paused: unpause it instead of starting it", r.Name)
			}
			if r.State.Running {
				return errAlreadyRunning
			}
			return errdefs.Conflict("container %q is being started by another command", r.Name)
		}
		if r.State.Status == StatusRemoving || r.State.Status == StatusDead {
			return errdefs.Conflict("container %q is %s and cannot be started", r.Name, r.State.Status)
		}
		cmd = e.monitorCommand(id, syncW, o.Attach, o.ConsoleSize)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("container %q: start its monitor: %w", r.Name, err)
		}
		r.State.MonitorPid = cmd.Process.Pid
		r.State.MonitorStart, _ = processStart(cmd.Process.Pid)
		r.State.StoppedByUser = false
		r.State.Error = ""
		return nil
	})
	syncW.Close()
	if errors.Is(err, errAlreadyRunning) {
		return &r.Container, nil
	}
	if err != nil {
		if cmd != nil && cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		return nil, err
	}
	// The monitor runs in its own session and outlives us; we only wait
	// for its word on the start (its exit status is not ours to reap
	// unless it failed at once).
	runtime.Tracef("engine: monitor spawned")
	line, _ := bufio.NewReader(syncR).ReadString('\n')
	runtime.Tracef("engine: monitor reported %q", strings.TrimSpace(line))
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "ok "):
		cmd.Process.Release()
		c, err := e.Inspect(id)
		if errdefs.IsNotFound(err) {
			// It ran, ended and its --rm removed it already.
			return &r.Container, nil
		}
		return c, err
	case strings.HasPrefix(line, "error "):
		cmd.Wait()
		return nil, fmt.Errorf("container %q: %s", r.Name, strings.TrimPrefix(line, "error "))
	}
	err = cmd.Wait()
	return nil, fmt.Errorf("container %q: its monitor ended before the container started (%v)", r.Name, err)
}

var errAlreadyRunning = errors.New("already running")

// monitorCommand is `hutch monitor ID`, in a session of its own (no
// terminal signal reaches it), with the sync pipe as fd 3 and the attach
// socket as fd 4.
func (e *Engine) monitorCommand(id string, sync, attach *os.File, size [2]uint16) *exec.Cmd {
	args := []string{"monitor"}
	if size[0] > 0 && size[1] > 0 {
		args = append(args, "--console-size", fmt.Sprintf("%d,%d", size[0], size[1]))
	}
	cmd := e.hutchCommand(append(args, id)...)
	cmd.ExtraFiles = []*os.File{sync}
	if attach != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, attach)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if os.Getenv("HUTCH_TRACE") != "" {
		cmd.Stderr = os.Stderr // the monitor's trace lines, with ours
	}
	return cmd
}

// hutchCommand is this engine's hutch (same roots) with args, in /, with
// a plain environment.
func (e *Engine) hutchCommand(args ...string) *exec.Cmd {
	full := []string{"hutch", "--root", e.Root, "--runroot", e.Runroot}
	if e.StorageDriver != "" {
		full = append(full, "--storage-driver", e.StorageDriver)
	}
	cmd := &exec.Cmd{Path: e.Exe, Args: append(full, args...), Dir: "/"}
	// The engine's own settings (HUTCH_TRACE, HUTCH_DEFAULT_BRIDGE ...)
	// go along; nothing else of the caller's environment does.
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HUTCH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// MonitorOptions are what `hutch monitor` was started with.
type MonitorOptions struct {
	// Sync and Attach are the inherited fds 3 and 4 of a first start
	// (Attach may be nil).
	Sync, Attach *os.File
	ConsoleSize  [2]uint16
	// Resume is set when the relay hands back after the init exited with
	// ExitCode; LogFd is then the log it wrote to.
	Resume   bool
	ExitCode int
	LogFd    int
}

// RunMonitor is the body of `hutch monitor ID`: it supervises the
// container until it ends for good.
func (e *Engine) RunMonitor(id string, o MonitorOptions) int {
	sync := o.Sync
	fail := func(format string, args ...any) int {
		if sync != nil {
			fmt.Fprintf(sync, "error "+format+"\n", args...)
		}
		return 125
	}
	if err := e.open(); err != nil {
		return fail("%v", err)
	}
	r, err := e.readRecord(id)
	if err != nil {
		return fail("%v", err)
	}
	logOpts, err := logfile.ParseOptions(r.HostConfig.LogConfig.Config)
	if err != nil {
		return fail("container %q: its log options: %v", r.Name, err)
	}
	var logw *containerLog
	if o.Resume && o.LogFd >= 0 {
		logw, err = adoptLog(os.NewFile(uintptr(o.LogFd), "log"), e.logPath(id), logOpts)
	} else {
		logw, err = openLog(e.logPath(id), r.HostConfig.LogConfig)
	}
	if err != nil {
		return fail("container %q: open its log: %v", r.Name, err)
	}
	defer logw.Close()
	bundle := e.bundleDir(id)
	cfg := monitor.Config{
		ID:           id,
		RuntimeRoot:  e.runtimeRoot(),
		Bundle:       bundle,
		Tty:          r.Config.Tty,
		Stdin:        r.Config.OpenStdin,
		Log:          logw,
		AttachSocket: filepath.Join(bundle, "attach"),
		Sync:         sync,
		Attach:       o.Attach,
		ConsoleSize:  o.ConsoleSize,
		LogPath:      e.logPath(id),
		LogMaxSize:   logOpts.MaxSize,
		LogMaxFiles:  logOpts.MaxFiles,
	}
	// The C relay takes over once a detached container runs, which keeps
	// its monitor small while it idles. A container started attached
	// (foreground run, start -a) keeps the Go relay: its caller waits for
	// the end, and handing back to Go at the exit would cost that caller
	// a second start of the Go runtime. HUTCH_MONITOR=go never hands over.
	if os.Getenv("HUTCH_MONITOR") != "go" && o.Attach == nil {
		cfg.RelayArgs = e.hutchCommand("monitor", "--resume", id).Args
	}
	cfg.HealthInterval, _ = healthSchedule(r.Config.Healthcheck)
	hooks := monitor.Hooks{
		Prepare: func() error { return e.prepare(id) },
		Failed:  func(error) { e.teardown(id) },
		Started: func(pid int) error {
			_, err := e.update(id, func(r *record) error {
				r.State.setStatus(StatusRunning)
				r.State.Pid = pid
				r.State.StartedAt = time.Now().UTC()
				r.State.ExitCode = 0
				r.State.OOMKilled = false
				r.State.Error = ""
				r.State.Health = nil
				if _, ok := healthSchedule(r.Config.Healthcheck); ok {
					r.State.Health = &Health{Status: "starting", Log: []HealthProbe{}}
				}
				r.State.MonitorPid = os.Getpid()
				r.State.MonitorStart, _ = processStart(os.Getpid())
				return nil
			})
			return err
		},
		Exited: func(st monitor.ExitStatus) (bool, time.Duration) {
			restart, count := e.exited(id, st)
			if restart {
				// Docker's backoff: 100 ms, doubling with each restart,
				// at most a minute. The count lives in the record, so it
				// survives the monitor's exec of itself.
				return true, min(100*time.Millisecond<<min(count, 10), time.Minute)
			}
			return false, 0
		},
		Done: func() { logw.Finish() },
		KeepRestarting: func() bool {
			keep := true
			e.update(id, func(r *record) error {
				if r.State.StoppedByUser || r.HostConfig.RestartPolicy.Name == "no" {
					keep = false
					r.State.setStatus(StatusExited)
					r.State.MonitorPid, r.State.MonitorStart = 0, 0
				}
				return nil
			})
			return keep
		},
		HealthCheck: func() (int, error) {
			cmd := e.hutchCommand("healthcheck", "run", id)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			// The monitor's reaper collects it, not cmd.Wait.
			pid := cmd.Process.Pid
			cmd.Process.Release()
			return pid, nil
		},
	}
	var code int
	if o.Resume {
		code, err = monitor.Resume(cfg, hooks, o.ExitCode)
	} else {
		code, err = monitor.Run(cfg, hooks)
	}
	if err != nil {
		// The start failed: the record shows why, the command that
		// started us printed it.
		e.update(id, func(r *record) error {
			r.State.MonitorPid, r.State.MonitorStart = 0, 0
			r.State.Error = err.Error()
			if r.State.Status == StatusRunning || r.State.Status == StatusRestarting {
				r.State.setStatus(StatusExited)
			}
			return nil
		})
		if r.HostConfig.AutoRemove {
			e.removeRecord(context.Background(), id, true)
		}
	}
	return code
}

// prepare readies the bundle for a start: the root filesystem mounted
// from the container's snapshot and config.json built from the record.
func (e *Engine) prepare(id string) error {
	runtime.Tracef("monitor: prepare")
	defer runtime.Tracef("monitor: prepared")
	r, err := e.readRecord(id)
	if err != nil {
		return err
	}
	bundle := e.bundleDir(id)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o700); err != nil {
		return err
	}
	if err := e.mountRootfs(r, rootfs); err != nil {
		return err
	}
	if err := e.mountVolumes(r, rootfs); err != nil {
		e.unmountVolumes(r)
		mount.Unmount(rootfs)
		return err
	}
	nsPath, err := e.setupNetwork(r)
	if err != nil {
		e.unmountVolumes(r)
		mount.Unmount(rootfs)
		return err
	}
	if nsPath != "" {
		settings := r.NetworkSettings
		if _, err := e.update(id, func(r *record) error { r.NetworkSettings = settings; return nil }); err != nil {
			e.teardown(id)
			return err
		}
	}
	s, err := e.buildSpec(r, rootfs)
	if err != nil {
		e.teardown(id)
		return err
	}
	if err := store.WriteJSON(filepath.Join(bundle, "config.json"), s); err != nil {
		e.teardown(id)
		return err
	}
	return nil
}

// mountRootfs mounts the container's snapshot on target, unless a
// mount from an earlier start is still there.
func (e *Engine) mountRootfs(r *record, target string) error {
	if mounted(target) {
		return nil
	}
	ms, err := e.sn.Mounts(context.Background(), r.Snapshot)
	if err != nil {
		return fmt.Errorf("container %q: its writable layer: %w", r.Name, err)
	}
	for _, m := range ms {
		if err := overlay.MountAt(m, target); err != nil {
			return fmt.Errorf("container %q: mount its root filesystem: %w", r.Name, err)
		}
	}
	return nil
}

// mounted tells whether path is a mount point (an error reads as no).
func mounted(path string) bool {
	ok, err := mountinfo.IsMountPoint(path)
	return err == nil && ok
}

// teardown undoes prepare: what a stopped container does not need.
func (e *Engine) teardown(id string) error {
	var errs []error
	r, err := e.readRecord(id)
	if err == nil {
		e.unmountVolumes(r)
	}
	if err != nil || usesNetworkManager(r.HostConfig.NetworkMode) {
		if err := e.teardownNetwork(id); err != nil {
			errs = append(errs, err)
		}
	}
	bundle := e.bundleDir(id)
	rootfs := filepath.Join(bundle, "rootfs")
	for mounted(rootfs) {
		if err := mount.Unmount(rootfs); err != nil {
			errs = append(errs, err)
			break
		}
	}
	if len(errs) == 0 {
		os.RemoveAll(bundle)
	}
	return errors.Join(errs...)
}

// exited records the end of a run, tears down and says whether the
// restart policy wants another start.
func (e *Engine) exited(id string, st monitor.ExitStatus) (restart bool, count int) {
	runtime.Tracef("monitor: exited %d", st.Code)
	defer runtime.Tracef("monitor: exit recorded")
	tdErr := e.teardown(id)
	runtime.Tracef("monitor: torn down")
	var autoRemove bool
	e.update(id, func(r *record) error {
		r.State.ExitCode = st.Code
		r.State.OOMKilled = st.OOMKilled
		r.NetworkSettings = nil
		r.State.FinishedAt = st.At
		r.State.Pid = 0
		if tdErr != nil {
			r.State.Error = tdErr.Error()
		}
		restart = wantsRestart(r, st.Code)
		if restart {
			count = r.RestartCount
			r.RestartCount++
			r.State.setStatus(StatusRestarting)
			return nil
		}
		r.State.setStatus(StatusExited)
		r.State.MonitorPid, r.State.MonitorStart = 0, 0
		autoRemove = r.HostConfig.AutoRemove
		return nil
	})
	runtime.Tracef("monitor: exit written")
	if autoRemove {
		e.removeRecord(context.Background(), id, true)
	}
	return restart, count
}

// wantsRestart applies Docker's restart policies. A container stopped by
// the user is not restarted by any policy.
func wantsRestart(r *record, code int) bool {
	if r.State.StoppedByUser || r.HostConfig.AutoRemove {
		return false
	}
	switch r.HostConfig.RestartPolicy.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		max := r.HostConfig.RestartPolicy.MaximumRetryCount
		return code != 0 && (max <= 0 || r.RestartCount < max)
	}
	return false
}

// AttachSocket is where the monitor of a running container accepts
// `hutch attach` clients.
func (e *Engine) AttachSocket(id string) string { return filepath.Join(e.bundleDir(id), "attach") }
