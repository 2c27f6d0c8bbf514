package fs2

import (
	"errors"
	"fmt"
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cgroups/internal/bpf"
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
	prog, err := bpf.LoadProgram(bpf.ProgramSpec{
		Name:    "hutch_devices",
		Type:    unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		License: "Apache",
		Insns:   deviceFilter(state),
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

	old, err := bpf.Query(fd, unix.BPF_CGROUP_DEVICE)
	if err != nil {
		return fmt.Errorf("cgroup %s: query device programs: %w", dir, err)
	}
	if err := bpf.Attach(fd, prog, unix.BPF_CGROUP_DEVICE, unix.BPF_F_ALLOW_MULTI); err != nil {
		return fmt.Errorf("cgroup %s: attach device program: %w", dir, err)
	}
	log.Debug("device program attached", "path", dir, "rules", len(rules), "replaced", len(old))
	var errs []error
	for _, id := range old {
		errs = append(errs, detach(fd, id))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cgroup %s: detach old device program: %w", dir, err)
	}
	return nil
}

func detach(fd int, id uint32) error {
	p, err := bpf.ProgramFromID(id)
	if errors.Is(err, unix.ENOENT) {
		return nil // detached meanwhile
	}
	if err != nil {
		return err
	}
	defer p.Close()
	return bpf.Detach(fd, p, unix.BPF_CGROUP_DEVICE)
}
