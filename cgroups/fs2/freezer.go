package fs2

import (
	"errors"
	"time"

	"hutch.dev/hutch/cgroups/internal/cgfs"
)

// freezeTimeout bounds the wait for cgroup.events to report "frozen 1".
const freezeTimeout = 10 * time.Second

// freeze writes 1 to cgroup.freeze and waits for "frozen 1" in
// cgroup.events: the write only asks, and the kernel reports once every
// task has stopped. A freeze that does not complete is undone.
func freeze(dir string) error {
	if err := cgfs.Write(dir, "cgroup.freeze", "1"); err != nil {
		return err
	}
	err := cgfs.WaitFor("cgroup "+dir+": freeze", freezeTimeout, func() (bool, error) {
		ev, err := cgfs.ReadKV(dir, "cgroup.events")
		return ev["frozen"] == 1, err
	})
	if err != nil {
		return errors.Join(err, thaw(dir))
	}
	return nil
}

// thaw writes 0 to cgroup.freeze. The kernel clears the frozen state in
// the write itself (kernel/cgroup/freezer.c), so there is nothing to wait
// for; "frozen 1" may remain only while an ancestor is frozen.
func thaw(dir string) error { return cgfs.Write(dir, "cgroup.freeze", "0") }

// frozen reports the cgroup's own request or the kernel's state (which
// includes a frozen ancestor): either way its tasks do not run.
func frozen(dir string) (bool, error) {
	self, err := cgfs.Read(dir, "cgroup.freeze")
	if err != nil {
		return false, err
	}
	if self == "1" {
		return true, nil
	}
	ev, err := cgfs.ReadKV(dir, "cgroup.events")
	if err != nil {
		return false, err
	}
	return ev["frozen"] == 1, nil
}
