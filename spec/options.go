package spec

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Options is everything the engine knows of one container, already parsed
// from the command line, that goes into its config.json. The zero value of
// each field means "as Docker does when the flag is not given".
type Options struct {
	// ID is the container's ID; its first 12 characters are the default
	// hostname, as Docker's.
	ID string

	// ImageConfig is the image's config (may be nil: no defaults).
	ImageConfig *v1.Config
	// Rootfs is the mounted root filesystem. It is read (never through a
	// symlink that leaves it) to resolve User and to create WorkingDir, and
	// becomes root.path. Empty: nothing is read or created.
	Rootfs string

	// Entrypoint: nil keeps the image's; a pointer to an empty slice (or
	// to [""]) resets it, as `--entrypoint ""`. A given entrypoint drops
	// the image's Cmd unless Cmd is given too.
	Entrypoint *[]string
	// Cmd: nil (or empty) keeps the image's.
	Cmd []string
	// Env is -e and --env-file, in order: KEY=VALUE sets, a bare KEY unsets
	// (what Docker's CLI sends for -e KEY when KEY is not in its
	// environment).
	Env        []string
	WorkingDir string // -w; relative paths are refused
	User       string // -u user[:group], names or ids
	GroupAdd   []string
	Hostname   string // default: the short ID
	Domainname string
	Terminal   bool // -t

	ReadOnly        bool // --read-only
	Privileged      bool
	CapAdd, CapDrop []string // "ALL", names with or without CAP_, any case
	NoNewPrivileges bool
	// Seccomp is --security-opt seccomp=: "" or "builtin" for the default
	// profile, "unconfined" for none, JSON (starting with "{") for a
	// profile's contents, anything else a path to a profile file. Profiles
	// are in Docker's format (archMap, includes/excludes) or plain OCI.
	Seccomp     string
	OOMScoreAdj int

	// Mounts are the engine's resolved binds, volumes and tmpfs mounts. A
	// mount replaces the default one at the same destination; one at /dev
	// replaces every default below /dev too.
	Mounts  []specs.Mount
	ShmSize int64 // bytes of /dev/shm; 0 means 64 MiB

	Memory            int64 // bytes; 0 unlimited, below 6 MiB refused
	MemorySwap        int64 // memory+swap bytes; 0 twice Memory, -1 unlimited
	MemoryReservation int64
	NanoCPUs          int64 // --cpus * 1e9
	CPUShares         uint64
	CPUQuota          int64 // microseconds per CPUPeriod
	CPUPeriod         int64 // microseconds
	CpusetCpus        string
	CpusetMems        string
	PidsLimit         int64 // 0 unset, negative unlimited
	BlkioWeight       uint16

	Devices []DeviceRequest
	Ulimits []specs.POSIXRlimit
	Sysctls map[string]string

	// Namespaces: a key with "" makes a new namespace, a key with a path
	// joins that one (/proc/PID/ns/net, a bind-mounted netns), no key
	// shares the host's. A nil map means Docker's default: new mount,
	// network, uts, pid, ipc and cgroup namespaces. The mount namespace is
	// always there (new when not given).
	Namespaces  map[specs.LinuxNamespaceType]string
	CgroupsPath string
	Annotations map[string]string

	// Init is the host path of an init binary (tini, catatonit) to run as
	// PID 1 in front of the command, as `docker run --init`. Only used with
	// a new PID namespace.
	Init string
}

// DeviceRequest is one --device HOST[:CONTAINER[:PERMISSIONS]].
type DeviceRequest struct {
	PathOnHost      string
	PathInContainer string // default PathOnHost
	Permissions     string // subset of "rwm", default "rwm"
}

// InitPath is where Options.Init is bound in the container.
const InitPath = "/sbin/hutch-init"

// DefaultShmSize is Docker's /dev/shm size.
const DefaultShmSize = 64 << 20
