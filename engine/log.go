package engine

import (
	"context"
	"io"
	"os"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/logfile"
)

// containerLog adapts the json-file writer to what the monitor wants.
type containerLog struct{ w *logfile.Writer }

// openLog opens the container's json-file log with its rotation options.
func openLog(path string, cfg LogConfig) (*containerLog, error) {
	opts, err := logfile.ParseOptions(cfg.Config)
	if err != nil {
		return nil, err
	}
	w, err := logfile.Open(path, opts)
	if err != nil {
		return nil, err
	}
	return &containerLog{w: w}, nil
}

// adoptLog goes on with a log the relay wrote to (f keeps its lock).
func adoptLog(f *os.File, path string, opts logfile.Options) (*containerLog, error) {
	w, err := logfile.Adopt(f, path, opts)
	if err != nil {
		return nil, err
	}
	return &containerLog{w: w}, nil
}

func (l *containerLog) Stream(name string) io.Writer { return l.w.Stream(name) }

// Detach hands the live log file to the relay.
func (l *containerLog) Detach() (*os.File, error) { return l.w.Detach() }

// Finish ends the log: followers (`logs -f`) stop once they read it all.
func (l *containerLog) Finish() { l.w.Close() }

func (l *containerLog) Close() error { return l.w.Close() }

// LogsOptions are `hutch logs` flags.
type LogsOptions = logfile.ReadOptions

// Logs calls out with the container's log entries.
func (e *Engine) Logs(ctx context.Context, ref string, o LogsOptions, out func(logfile.Entry) error) error {
	c, err := e.Inspect(ref)
	if err != nil {
		return err
	}
	if c.HostConfig.LogConfig.Type != "" && c.HostConfig.LogConfig.Type != "json-file" {
		return errdefs.NotImplemented("container %q: log driver %q cannot be read", c.Name, c.HostConfig.LogConfig.Type)
	}
	return logfile.Read(ctx, e.logPath(c.ID), o, out)
}
