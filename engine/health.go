package engine

import (
	"bytes"
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime"
)

// Health is Docker's State.Health.
type Health struct {
	Status        string        `json:"Status"` // starting, healthy, unhealthy
	FailingStreak int           `json:"FailingStreak"`
	Log           []HealthProbe `json:"Log"`
}

// HealthProbe is one check's result.
type HealthProbe struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// Docker's defaults and bounds.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	maxHealthOutput       = 4096
	maxHealthLog          = 5
)

// healthSchedule tells whether the container has a check and how often
// it runs.
func healthSchedule(hc *Healthcheck) (interval time.Duration, ok bool) {
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return 0, false
	}
	interval = hc.Interval
	if interval == 0 {
		interval = defaultHealthInterval
	}
	return interval, true
}

// mergeHealthcheck fills what the run flags left out from the image's
// check, field by field, as Docker does.
func mergeHealthcheck(run, img *Healthcheck) *Healthcheck {
	if run == nil {
		return img
	}
	if img == nil {
		return run
	}
	out := *run
	if out.Test == nil {
		out.Test = img.Test
	}
	if out.Interval == 0 {
		out.Interval = img.Interval
	}
	if out.Timeout == 0 {
		out.Timeout = img.Timeout
	}
	if out.StartPeriod == 0 {
		out.StartPeriod = img.StartPeriod
	}
	if out.Retries == 0 {
		out.Retries = img.Retries
	}
	return &out
}

// Healthcheck runs the container's check once (`hutch healthcheck run`,
// also what the monitor starts at each interval) and records the result:
// the status turns unhealthy after Retries failures in a row, healthy at
// the first success; failures within the start period do not count.
func (e *Engine) Healthcheck(ctx context.Context, ref string) (*HealthProbe, error) {
	c, err := e.Inspect(ref)
	if err != nil {
		return nil, err
	}
	hc := c.Config.Healthcheck
	if _, ok := healthSchedule(hc); !ok {
		return nil, errdefs.FailedPrecondition("container %q has no healthcheck", c.Name)
	}
	if c.State.Status != StatusRunning {
		return nil, errdefs.Conflict("container %q is not running", c.Name)
	}
	var argv []string
	switch hc.Test[0] {
	case "CMD":
		argv = hc.Test[1:]
	case "CMD-SHELL":
		argv = []string{"/bin/sh", "-c", hc.Test[1]}
	default:
		return nil, errdefs.InvalidArgument("container %q: healthcheck test %q: want CMD, CMD-SHELL or NONE", c.Name, hc.Test[0])
	}
	timeout := hc.Timeout
	if timeout == 0 {
		timeout = defaultHealthTimeout
	}
	probe := &HealthProbe{Start: time.Now().UTC(), ExitCode: -1}
	// The whole probe, exec included, is bounded: a container that ends
	// in the middle of an exec must not leave this process waiting.
	type result struct {
		code int
		out  string
	}
	ch := make(chan result, 1)
	go func() {
		code, out := e.probe(c, argv, timeout)
		ch <- result{code, out}
	}()
	select {
	case res := <-ch:
		probe.ExitCode, probe.Output = res.code, res.out
	case <-time.After(timeout + 5*time.Second):
		probe.Output = "Health check exceeded timeout (" + timeout.String() + ")"
	}
	probe.End = time.Now().UTC()
	_, err = e.update(c.ID, func(r *record) error {
		if r.State.Status != StatusRunning {
			return nil
		}
		h := r.State.Health
		if h == nil {
			h = &Health{Status: "starting"}
		}
		h.Log = append(h.Log, *probe)
		if len(h.Log) > maxHealthLog {
			h.Log = h.Log[len(h.Log)-maxHealthLog:]
		}
		retries := hc.Retries
		if retries == 0 {
			retries = defaultHealthRetries
		}
		switch {
		case probe.ExitCode == 0:
			h.Status, h.FailingStreak = "healthy", 0
		case h.Status == "starting" && probe.Start.Sub(r.State.StartedAt) < hc.StartPeriod:
			// Failures while the container starts do not count.
		default:
			h.FailingStreak++
			if h.FailingStreak >= retries {
				h.Status = "unhealthy"
			}
		}
		r.State.Health = h
		return nil
	})
	return probe, err
}

// probe runs argv in the container with the container's process settings
// and returns its exit code and the start of its output. A probe that
// outlives timeout is killed and counts as failed.
func (e *Engine) probe(c *Container, argv []string, timeout time.Duration) (int, string) {
	_, rc, p, err := e.PrepareExec(c.ID, ExecOptions{Cmd: argv})
	if err != nil {
		return -1, err.Error()
	}
	r, w, err := os.Pipe()
	if err != nil {
		return -1, err.Error()
	}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	// The probe is our grandchild when the container has its own pid
	// namespace: reap it as the subreaper.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	pid, err := rc.Exec(runtime.ExecOptions{Process: p, Stdin: devnull, Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		r.Close()
		return -1, err.Error()
	}
	out := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		chunk := make([]byte, 4096)
		for {
			n, err := r.Read(chunk)
			if buf.Len() < maxHealthOutput {
				buf.Write(chunk[:min(n, maxHealthOutput-buf.Len())])
			}
			if err != nil {
				break
			}
		}
		r.Close()
		out <- buf.Bytes()
	}()
	done := make(chan int, 1)
	go func() {
		for {
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(-1, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				done <- -1
				return
			}
			if wpid == pid {
				if ws.Signaled() {
					done <- 128 + int(ws.Signal())
				} else {
					done <- ws.ExitStatus()
				}
				return
			}
		}
	}()
	select {
	case code := <-done:
		return code, string(<-out)
	case <-time.After(timeout):
		unix.Kill(pid, unix.SIGKILL)
		<-done
		return -1, "Health check exceeded timeout (" + timeout.String() + ")"
	}
}
