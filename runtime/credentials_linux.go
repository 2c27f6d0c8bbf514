package runtime

import (
	"fmt"
	"runtime"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/runtime/specconv"
)

// capSets turns the spec's names into numbers (already validated).
func capSets(c *specs.LinuxCapabilities) (bounding, effective, permitted, inheritable, ambient []capability.Cap) {
	conv := func(names []string) []capability.Cap {
		out := make([]capability.Cap, 0, len(names))
		for _, n := range names {
			if v, err := specconv.CapabilityValue(n); err == nil {
				out = append(out, v)
			}
		}
		return out
	}
	return conv(c.Bounding), conv(c.Effective), conv(c.Permitted), conv(c.Inheritable), conv(c.Ambient)
}

// setCredentials switches to the process's user and capabilities, in the
// order the kernel needs: narrow the bounding set while still privileged,
// keep the permitted set across setuid (PR_SET_KEEPCAPS), change the ids,
// then install the final effective/permitted/inheritable and ambient sets.
// Capabilities are per thread: the caller runs on a locked OS thread and
// execs from it.
func setCredentials(p *specs.Process) error {
	var caps capability.Capabilities
	var bounding, effective, permitted, inheritable, ambient []capability.Cap
	if p.Capabilities != nil {
		var err error
		caps, err = capability.NewPid2(0)
		if err != nil {
			return fmt.Errorf("capabilities: %w", err)
		}
		if err := caps.Load(); err != nil {
			return fmt.Errorf("capabilities: %w", err)
		}
		bounding, effective, permitted, inheritable, ambient = capSets(p.Capabilities)
		caps.Clear(capability.BOUNDS)
		caps.Set(capability.BOUNDING, bounding...)
		if err := caps.Apply(capability.BOUNDS); err != nil {
			return fmt.Errorf("process.capabilities.bounding: %w", err)
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
		}
	}
	if err := setUser(p.User); err != nil {
		return err
	}
	if p.Capabilities != nil {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
		}
		caps.Clear(capability.CAPS | capability.AMBS)
		caps.Set(capability.EFFECTIVE, effective...)
		caps.Set(capability.PERMITTED, permitted...)
		caps.Set(capability.INHERITABLE, inheritable...)
		caps.Set(capability.AMBIENT, ambient...)
		if err := caps.Apply(capability.CAPS); err != nil {
			return fmt.Errorf("process.capabilities: %w", err)
		}
		// Ambient capabilities must be in the permitted and inheritable
		// sets; the kernel refuses the others, which runc also ignores.
		for _, c := range ambient {
			unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0)
		}
	}
	return nil
}

// setUser sets the supplementary groups, gid and uid. The raw syscalls
// act on this thread only, which is what we want: the thread execs, and
// the Go runtime's other threads die with execve.
func setUser(u specs.User) error {
	groups := make([]int, 0, len(u.AdditionalGids))
	for _, g := range u.AdditionalGids {
		groups = append(groups, int(g))
	}
	if err := setgroups(groups); err != nil {
		// setgroups is denied in a user namespace with setgroups=deny
		// (rootless); it only matters when groups were asked for.
		if len(groups) > 0 {
			return fmt.Errorf("process.user.additionalGids %v: %w", u.AdditionalGids, err)
		}
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("process.user.gid %d: setresgid: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("process.user.uid %d: setresuid: %w", u.UID, e)
	}
	if u.Umask != nil {
		unix.Umask(int(*u.Umask))
	}
	return nil
}

func setgroups(gids []int) error {
	var p uintptr
	if len(gids) > 0 {
		g := make([]uint32, len(gids))
		for i, v := range gids {
			g[i] = uint32(v)
		}
		p = uintptr(unsafePointer(&g[0]))
		defer runtime.KeepAlive(g)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), p, 0); e != 0 {
		return e
	}
	return nil
}
