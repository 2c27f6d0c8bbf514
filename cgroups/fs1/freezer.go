package fs1

import (
	"errors"
	"time"

	"hutch.dev/hutch/cgroups/internal/cgfs"
)

// freezeTimeout bounds the wait for FREEZING to become FROZEN. A task in
// an uninterruptible sleep (e.g. on a hung NFS server) can hold the cgroup
// in FREEZING for ever; the freeze is then undone and reported.
const freezeTimeout = 10 * time.Second

// freeze writes FROZEN and waits until the state reads FROZEN. The kernel
// freezes tasks lazily and may leave some behind (a task that forks while
// being frozen), so FROZEN is written again now and then while waiting,
// which makes the kernel retry the stragglers.
func freeze(dir string) error {
	if err := cgfs.Write(dir, "freezer.state", "FROZEN"); err != nil {
		return err
	}
	tries := 0
	err := cgfs.WaitFor("cgroup "+dir+": freeze", freezeTimeout, func() (bool, error) {
		state, err := cgfs.Read(dir, "freezer.state")
		if err != nil || state == "FROZEN" {
			return err == nil, err
		}
		if tries++; tries%10 == 0 {
			return false, cgfs.Write(dir, "freezer.state", "FROZEN")
		}
		return false, nil
	})
	if err != nil {
		return errors.Join(err, thaw(dir))
	}
	return nil
}

func thaw(dir string) error {
	if err := cgfs.Write(dir, "freezer.state", "THAWED"); err != nil {
		return err
	}
	return cgfs.WaitFor("cgroup "+dir+": thaw", freezeTimeout, func() (bool, error) {
		state, err := cgfs.Read(dir, "freezer.state")
		return state == "THAWED", err
	})
}

// frozen is true while FROZEN or FREEZING: either way the container's
// processes do not run.
func frozen(dir string) (bool, error) {
	state, err := cgfs.Read(dir, "freezer.state")
	if err != nil {
		return false, err
	}
	return state != "THAWED", nil
}
