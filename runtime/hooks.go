package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// runHooks runs each hook in order with the state on stdin, as the runtime
// spec's "POSIX-platform Hooks" section describes, and stops at the first
// failure.
func runHooks(kind string, hooks []specs.Hook, st *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			return fmt.Errorf("hooks.%s[%d] %s: %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// runHook runs one hook in a process group of its own, so that a timeout
// kills whatever it started too. Its output goes to a memfd rather than a
// pipe: a child the hook left behind holding the pipe open would keep us
// waiting for EOF.
// runHooksWarn runs every hook even when some fail, as the spec asks for
// poststart and poststop hooks, and returns the failures joined.
func runHooksWarn(kind string, hooks []specs.Hook, st *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	var errs []error
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			errs = append(errs, fmt.Errorf("hooks.%s[%d] %s: %w", kind, i, h.Path, err))
		}
	}
	return errors.Join(errs...)
}

func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	out, err := outputFile()
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = args
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // the spec's env, not ours
	}
	cmd.Stdin = strings.NewReader(string(state))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	// A hook that does not read its stdin must not hang us either.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		if msg := readOutput(out); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

func outputFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("hook-output", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), "hook-output"), nil
}

func readOutput(f *os.File) string {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 4096))
	return strings.TrimSpace(string(b))
}
