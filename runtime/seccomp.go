package runtime

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/runtime/seccomp"
)

// pendingSeccomp is a filter being compiled in the background.
type pendingSeccomp struct {
	done chan struct{}
	bpf  []byte
	err  error
}

// compileSeccomp compiles the filter on the host, in parallel with the rest
// of create, with a cache under the state root (root-only, on tmpfs).
func compileSeccomp(root string, cfg *specs.LinuxSeccomp) *pendingSeccomp {
	p := &pendingSeccomp{done: make(chan struct{})}
	if cfg == nil {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		prog, err := seccomp.CompileCached(cfg, filepath.Join(root, ".seccomp-cache"))
		if err != nil {
			p.err = err
			return
		}
		p.bpf, p.err = prog.MarshalBinary()
	}()
	return p
}

// into waits for the compile and puts the result into the init's config.
func (p *pendingSeccomp) into(cfg *initConfig, sc *specs.LinuxSeccomp) error {
	<-p.done
	if p.err != nil {
		return p.err
	}
	cfg.SeccompBPF = p.bpf
	if sc != nil {
		cfg.SeccompMetadata = sc.ListenerMetadata
	}
	return nil
}

// openSeccompListener opens the seccomp agent's socket O_PATH, to be
// passed to the child; nil when the config names none.
func openSeccompListener(sc *specs.LinuxSeccomp) (*os.File, error) {
	if sc == nil || sc.ListenerPath == "" {
		return nil, nil
	}
	fd, err := unix.Open(sc.ListenerPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp.listenerPath %s: %w", sc.ListenerPath, err)
	}
	return os.NewFile(uintptr(fd), sc.ListenerPath), nil
}
