package specconv

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// Rlimits maps the spec's rlimit names to resource numbers.
var Rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

var capByName = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

// AllCapabilities names every capability this build knows, CAP_ form.
func AllCapabilities() []string {
	var out []string
	for _, c := range capability.ListKnown() {
		out = append(out, "CAP_"+strings.ToUpper(c.String()))
	}
	return out
}

// CapabilityValue resolves "CAP_NET_ADMIN" to its number.
func CapabilityValue(name string) (capability.Cap, error) {
	c, ok := capByName[strings.ToUpper(name)]
	if !ok {
		return 0, fmt.Errorf("unknown capability %q", name)
	}
	return c, nil
}

// PropagationFlags maps rootfsPropagation and mount option words to flags.
var PropagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// mountFlag is one mount(2) option word: set or clear flag.
type mountFlag struct {
	clear bool
	flag  uintptr
}

var mountFlags = map[string]mountFlag{
	"async": {true, unix.MS_SYNCHRONOUS}, "atime": {true, unix.MS_NOATIME},
	"bind": {false, unix.MS_BIND}, "defaults": {false, 0}, "dev": {true, unix.MS_NODEV},
	"diratime": {true, unix.MS_NODIRATIME}, "dirsync": {false, unix.MS_DIRSYNC},
	"exec": {true, unix.MS_NOEXEC}, "iversion": {false, unix.MS_I_VERSION},
	"lazytime": {false, unix.MS_LAZYTIME}, "loud": {true, unix.MS_SILENT},
	"mand": {false, unix.MS_MANDLOCK}, "noatime": {false, unix.MS_NOATIME},
	"nodev": {false, unix.MS_NODEV}, "nodiratime": {false, unix.MS_NODIRATIME},
	"noexec": {false, unix.MS_NOEXEC}, "noiversion": {true, unix.MS_I_VERSION},
	"nolazytime": {true, unix.MS_LAZYTIME}, "nomand": {true, unix.MS_MANDLOCK},
	"norelatime": {true, unix.MS_RELATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid": {false, unix.MS_NOSUID}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"relatime": {false, unix.MS_RELATIME}, "remount": {false, unix.MS_REMOUNT},
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY}, "silent": {false, unix.MS_SILENT},
	"strictatime": {false, unix.MS_STRICTATIME}, "suid": {true, unix.MS_NOSUID},
	"sync": {false, unix.MS_SYNCHRONOUS},
}

// recursiveAttrs are the "r"-prefixed options that mount_setattr(2)
// applies to a whole tree (runtime-spec 1.1: rro, rnosuid ...).
var recursiveAttrs = map[string]struct {
	clear bool
	attr  uint64
}{
	"rro": {false, unix.MOUNT_ATTR_RDONLY}, "rrw": {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid": {false, unix.MOUNT_ATTR_NOSUID}, "rsuid": {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev": {false, unix.MOUNT_ATTR_NODEV}, "rdev": {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec": {false, unix.MOUNT_ATTR_NOEXEC}, "rexec": {true, unix.MOUNT_ATTR_NOEXEC},
	"rnoatime": {false, unix.MOUNT_ATTR_NOATIME}, "ratime": {true, unix.MOUNT_ATTR_NOATIME},
	"rnodiratime": {false, unix.MOUNT_ATTR_NODIRATIME}, "rdiratime": {true, unix.MOUNT_ATTR_NODIRATIME},
	"rrelatime": {false, unix.MOUNT_ATTR_RELATIME}, "rnorelatime": {true, unix.MOUNT_ATTR_RELATIME},
	"rstrictatime": {false, unix.MOUNT_ATTR_STRICTATIME}, "rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow": {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// MountOptions is a spec mount's option list split by what it means to
// the kernel.
type MountOptions struct {
	Flags       uintptr   // mount(2) flags
	Propagation []uintptr // applied one by one after the mount
	AttrSet     uint64    // mount_setattr, recursive
	AttrClr     uint64
	Data        string // the filesystem's own options
	Bind        bool
	Recursive   bool // rbind
	// CopyUp is Podman's "tmpcopyup": a tmpfs starts with a copy of what
	// the directory under it held in the image.
	CopyUp bool
}

// ParseMountOptions splits options into flags, propagation, recursive
// attributes and filesystem data.
func ParseMountOptions(opts []string) MountOptions {
	var mo MountOptions
	var data []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				mo.Flags &^= f.flag
			} else {
				mo.Flags |= f.flag
			}
			if o == "bind" {
				mo.Bind = true
			}
			if o == "rbind" {
				mo.Bind, mo.Recursive = true, true
			}
			continue
		}
		if p, ok := PropagationFlags[o]; ok {
			mo.Propagation = append(mo.Propagation, p)
			continue
		}
		if o == "tmpcopyup" {
			mo.CopyUp = true
			continue
		}
		if a, ok := recursiveAttrs[o]; ok {
			if a.clear {
				mo.AttrClr |= a.attr
			} else {
				mo.AttrSet |= a.attr
			}
			continue
		}
		data = append(data, o)
	}
	mo.Data = strings.Join(data, ",")
	return mo
}

// MountOptionNames lists every option word the runtime understands, for
// `features`.
func MountOptionNames() []string {
	var out []string
	for k := range mountFlags {
		out = append(out, k)
	}
	for k := range PropagationFlags {
		out = append(out, k)
	}
	for k := range recursiveAttrs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
