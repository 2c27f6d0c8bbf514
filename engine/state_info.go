package engine

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cgroups"
)

// Info is `hutch info`: the host and the store as Docker's info shows
// them. The JSON names are Docker's, so `--format '{{.NCPU}}'` works as
// there; HutchRootDir is Docker's DockerRootDir.
type Info struct {
	ID                string
	Containers        int
	ContainersRunning int
	ContainersPaused  int
	ContainersStopped int
	Images            int
	Driver            string
	BackingFilesystem string
	LoggingDriver     string
	CgroupDriver      string
	CgroupVersion     string
	KernelVersion     string
	OperatingSystem   string
	OSVersion         string
	OSType            string
	Architecture      string
	NCPU              int
	MemTotal          int64
	Name              string
	DefaultRuntime    string
	HutchRootDir      string
	DockerRootDir     string
	HutchRunRoot      string
	Rootless          bool
	ServerVersion     string // filled by the command line, which knows it
}

// Info counts the containers and images and describes the host.
func (e *Engine) Info() (*Info, error) {
	if err := e.open(); err != nil {
		return nil, err
	}
	in := &Info{
		LoggingDriver:  "json-file",
		CgroupDriver:   "cgroupfs",
		OSType:         goruntime.GOOS,
		NCPU:           goruntime.NumCPU(),
		MemTotal:       int64(HostMemory()),
		DefaultRuntime: "hutch-runc",
		HutchRootDir:   e.Root,
		DockerRootDir:  e.Root,
		HutchRunRoot:   e.Runroot,
		Rootless:       os.Geteuid() != 0,
	}
	cs, err := e.List()
	if err != nil {
		return nil, err
	}
	in.Containers = len(cs)
	for _, c := range cs {
		switch {
		case c.State.Paused:
			in.ContainersPaused++
		case c.State.Running:
			in.ContainersRunning++
		default:
			in.ContainersStopped++
		}
	}
	imgs, err := e.images.List()
	if err != nil {
		return nil, err
	}
	in.Images = len(imgs)
	if b, err := os.ReadFile(filepath.Join(e.Root, "storage-driver")); err == nil {
		in.Driver = strings.TrimSpace(string(b))
	}
	in.BackingFilesystem = fsName(e.Root)
	in.CgroupVersion = "1"
	if l, err := cgroups.DetectLayout("/proc/self/mountinfo"); err == nil && l.Mode == cgroups.V2 {
		in.CgroupVersion = "2"
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		in.KernelVersion = unix.ByteSliceToString(u.Release[:])
		in.Architecture = unix.ByteSliceToString(u.Machine[:])
		in.Name = unix.ByteSliceToString(u.Nodename[:])
	}
	in.OperatingSystem, in.OSVersion = osRelease()
	if id, err := os.ReadFile("/etc/machine-id"); err == nil {
		in.ID = strings.TrimSpace(string(id))
	}
	return in, nil
}

// osRelease reads PRETTY_NAME and VERSION_ID of /etc/os-release.
func osRelease() (name, version string) {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		data, err = os.ReadFile("/usr/lib/os-release")
	}
	if err != nil {
		return "Linux", ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "PRETTY_NAME":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	if name == "" {
		name = "Linux"
	}
	return name, version
}

// fsName names the file system that holds path, as Docker's "Backing
// Filesystem" does.
func fsName(path string) string {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return ""
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "extfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	case unix.F2FS_SUPER_MAGIC:
		return "f2fs"
	}
	return "unknown"
}
