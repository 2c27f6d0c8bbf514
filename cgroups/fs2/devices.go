package fs2

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cgroups/internal/devices"
)

// setDevices enforces the device rules. cgroup v2 has no devices files:
// the kernel asks the BPF_PROG_TYPE_CGROUP_DEVICE programs attached to
// the cgroup and its ancestors, and every one must allow. The new program
// is attached (BPF_F_ALLOW_MULTI) before the old ones of this cgroup are
// detached, so a live update never leaves the cgroup unfiltered.
func setDevices(dir string, r *specs.LinuxResources, log *slog.Logger) error {
	rules, err := devices.FromSpec(r.Devices)
	if err != nil {
		return err
	}
	state := devices.AllowAll().Apply(rules)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "hutch_devices",
		Type:         ebpf.CGroupDevice,
		License:      "Apache",
		Instructions: deviceFilter(state),
	})
	if err != nil {
		return fmt.Errorf("cgroup %s: load device program: %w", dir, err)
	}
	defer prog.Close()

	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroup %s: open: %w", dir, err)
	}
	defer unix.Close(fd)

	old, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return fmt.Errorf("cgroup %s: query device programs: %w", dir, err)
	}
	err = link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: fd, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	})
	if err != nil {
		return fmt.Errorf("cgroup %s: attach device program: %w", dir, err)
	}
	log.Debug("device program attached", "path", dir, "rules", len(rules), "replaced", len(old.Programs))
	var errs []error
	for _, p := range old.Programs {
		errs = append(errs, detach(fd, p.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cgroup %s: detach old device program: %w", dir, err)
	}
	return nil
}

func detach(fd int, id ebpf.ProgramID) error {
	p, err := ebpf.NewProgramFromID(id)
	if errors.Is(err, unix.ENOENT) {
		return nil // detached meanwhile
	}
	if err != nil {
		return err
	}
	defer p.Close()
	return link.RawDetachProgram(link.RawDetachProgramOptions{Target: fd, Program: p, Attach: ebpf.AttachCGroupDevice})
}
