package runtime

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setnsInit runs a new process (exec) in an existing container: the
// nsenter constructor has joined its namespaces and the parent has put it
// into its cgroup; what is left is the process's own attributes.
func setnsInit(p *syncPipe, cfg *initConfig) error {
	proc := cfg.Process
	if proc.Terminal || !cfg.NoNewKeyring {
		unix.Setsid()
	}
	if !cfg.NoNewKeyring {
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.ID); err != nil && err != unix.ENOSYS && err != unix.EPERM && err != unix.EACCES {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	if proc.Terminal {
		if err := setupConsole(cfg.ConsoleFd, proc.ConsoleSize, false); err != nil {
			return err
		}
	}
	if err := setRlimits(proc, false); err != nil {
		return err
	}
	if err := setOOMScoreAdj(proc); err != nil {
		return err
	}
	if err := setIOPriority(proc); err != nil {
		return err
	}
	if err := setScheduler(proc); err != nil {
		return err
	}
	return finishAndExec(p, cfg)
}
