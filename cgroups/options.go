package cgroups

import (
	"io"
	"log/slog"
)

// Option configures New and Load.
type Option func(*options)

type options struct {
	systemd bool
	log     *slog.Logger

	// Where the host's view comes from; tests point these at fixtures.
	mountinfo   string
	procCgroup  string
	hugePageDir string
}

func defaults() options {
	return options{
		log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		mountinfo:   "/proc/self/mountinfo",
		procCgroup:  "/proc/self/cgroup",
		hugePageDir: "/sys/kernel/mm/hugepages",
	}
}

// WithSystemd asks for the systemd cgroup driver (runc's --systemd-cgroup).
// Hutch has none, so New then fails with a NotImplemented error.
func WithSystemd(on bool) Option { return func(o *options) { o.systemd = on } }

// WithLogger sends debug notes (cgroup paths created, settings skipped
// because the host lacks a controller) to l. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}
