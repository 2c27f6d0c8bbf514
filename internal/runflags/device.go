package runflags

import (
	"path"
	"strings"
)

// Device is one --device value.
type Device struct {
	PathOnHost      string
	PathInContainer string
	Permissions     string // cgroup permissions: a mix of r, w, m (default "rwm")
}

// ParseDevice parses --device HOST[:CONTAINER][:PERMISSIONS] as the docker
// CLI (validateLinuxPath, then parseLinuxDevice): "/dev/sda",
// "/dev/sda:/dev/xvda", "/dev/sda:rw", "/dev/sda:/dev/xvda:rwm". The
// container path must be absolute; permissions are r, w and m, each at most
// once. CDI names (vendor.com/class=name) are refused: Hutch has no CDI.
func ParseDevice(s string) (Device, error) {
	const flag = "--device"
	if strings.Count(s, ":") > 2 {
		return Device{}, bad(flag, s, "bad format for path: %s", s)
	}
	parts := strings.Split(s, ":")
	if parts[0] == "" {
		return Device{}, bad(flag, s, "bad format for path: %s", s)
	}
	d := Device{PathOnHost: parts[0], Permissions: "rwm"}
	switch len(parts) {
	case 2:
		if validDeviceMode(parts[1]) {
			d.Permissions = parts[1]
		} else {
			d.PathInContainer = parts[1]
		}
	case 3:
		if !validDeviceMode(parts[2]) {
			return Device{}, bad(flag, s, "bad mode specified: %s", parts[2])
		}
		d.PathInContainer, d.Permissions = parts[1], parts[2]
	}
	if !strings.HasPrefix(d.PathOnHost, "/") {
		if strings.Contains(d.PathOnHost, "=") {
			return Device{}, bad(flag, s, "CDI devices are not supported")
		}
		return Device{}, bad(flag, s, "%s is not an absolute path", d.PathOnHost)
	}
	if d.PathInContainer == "" {
		d.PathInContainer = d.PathOnHost
	}
	if !path.IsAbs(d.PathInContainer) {
		return Device{}, bad(flag, s, "%s is not an absolute path", d.PathInContainer)
	}
	d.PathOnHost, d.PathInContainer = path.Clean(d.PathOnHost), path.Clean(d.PathInContainer)
	return d, nil
}

func validDeviceMode(mode string) bool {
	if mode == "" {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range mode {
		if c != 'r' && c != 'w' && c != 'm' || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}
