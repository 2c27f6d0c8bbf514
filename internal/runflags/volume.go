package runflags

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"hutch.dev/hutch/errdefs"
)

// Mount types, as Docker names them.
const (
	TypeBind   = "bind"
	TypeVolume = "volume"
	TypeTmpfs  = "tmpfs"
)

// Volume is one -v/--volume value.
type Volume struct {
	Type        string // TypeBind or TypeVolume
	Source      string // absolute host path (bind), volume name, or "" for an anonymous volume
	Destination string // absolute, cleaned path in the container
	ReadOnly    bool
	Relabel     string // "", "z" (shared SELinux label) or "Z" (private)
	Propagation string // "", shared, rshared, slave, rslave, private, rprivate (binds only)
	NoCopy      bool   // volumes only: no copy-up of the image's content
}

// Anonymous reports whether the volume has no name (`-v /data`).
func (v Volume) Anonymous() bool { return v.Type == TypeVolume && v.Source == "" }

const volumeFlag = "-v, --volume"

// ParseVolume parses a -v value the way a current docker CLI and dockerd do
// together:
//
//	/ctr                    anonymous volume
//	name:/ctr[:opts]        named volume (name as `docker volume create`)
//	/host:/ctr[:opts]       bind mount
//	./rel:/ctr, ../x:/ctr   bind mount of a path relative to the working
//	                        directory, made absolute here
//
// The rule for relative paths is the current CLI's (since 23.0): a source
// beginning with "." is a host path made absolute against the working
// directory; older clients refused it. A source with no leading "/" or "."
// is a volume name, so `data:/x` is a volume and `a/b:/x` is refused with
// Docker's hint to use an absolute path.
//
// opts is a comma list of at most one of each group: ro|rw, z|Z, nocopy,
// shared|rshared|slave|rslave|private|rprivate; Docker Desktop's
// consistent|cached|delegated are accepted and ignored. `/ctr:ro` is refused,
// as Docker does: an anonymous volume takes no options.
func ParseVolume(s string) (Volume, error) {
	var v Volume
	if s == "" {
		return v, bad(volumeFlag, s, "invalid empty volume spec")
	}
	parts := strings.Split(s, ":")
	for _, p := range parts {
		if p == "" {
			return v, bad(volumeFlag, s, "invalid volume specification: '%s': empty section between colons", s)
		}
	}
	var src, dst, mode string
	switch len(parts) {
	case 1:
		dst = parts[0]
	case 2:
		if validMode(parts[1]) {
			// Destination + mode is not a volume: an anonymous volume has
			// no options (Docker: "invalid volume specification").
			return v, bad(volumeFlag, s, "invalid volume specification: '%s'", s)
		}
		src, dst = parts[0], parts[1]
	case 3:
		src, dst, mode = parts[0], parts[1], parts[2]
	default:
		return v, bad(volumeFlag, s, "invalid volume specification: '%s': too many colons", s)
	}

	if !filepath.IsAbs(dst) {
		return v, bad(volumeFlag, s, "invalid mount config: invalid mount path: '%s' mount path must be absolute", dst)
	}
	v.Destination = filepath.Clean(dst)
	if v.Destination == "/" {
		return v, bad(volumeFlag, s, "invalid specification: destination can't be '/'")
	}

	switch {
	case src == "":
		v.Type = TypeVolume
	case filepath.IsAbs(src):
		v.Type, v.Source = TypeBind, filepath.Clean(src)
	case strings.HasPrefix(src, "."):
		abs, err := filepath.Abs(src)
		if err != nil {
			return v, bad(volumeFlag, s, "relative host path %s: %v", src, err)
		}
		v.Type, v.Source = TypeBind, abs
	default:
		if err := ValidVolumeName(src); err != nil {
			return v, &Error{Flag: volumeFlag, Value: s, Err: err}
		}
		v.Type, v.Source = TypeVolume, src
	}

	if mode != "" {
		if err := v.applyMode(mode); err != nil {
			return v, &Error{Flag: volumeFlag, Value: s, Err: err}
		}
	}
	return v, nil
}

// modeGroup tells which group of -v options a word belongs to: at most one
// per group, as dockerd's linuxValidMountMode.
func modeGroup(o string) string {
	switch o {
	case "rw", "ro":
		return "rw"
	case "z", "Z":
		return "label"
	case "nocopy":
		return "copy"
	case "shared", "rshared", "slave", "rslave", "private", "rprivate":
		return "propagation"
	case "consistent", "cached", "delegated":
		return "consistency"
	}
	return ""
}

func validMode(mode string) bool {
	seen := map[string]bool{}
	for _, o := range strings.Split(mode, ",") {
		g := modeGroup(o)
		if g == "" || seen[g] {
			return false
		}
		seen[g] = true
	}
	return true
}

func (v *Volume) applyMode(mode string) error {
	if !validMode(mode) {
		return fmt.Errorf("invalid mode: %s", mode)
	}
	for _, o := range strings.Split(mode, ",") {
		switch modeGroup(o) {
		case "rw":
			v.ReadOnly = o == "ro"
		case "label":
			v.Relabel = o
		case "copy":
			if v.Type != TypeVolume {
				return fmt.Errorf("invalid mode: %s: nocopy applies to volumes only", mode)
			}
			v.NoCopy = true
		case "propagation":
			if v.Type != TypeBind {
				return fmt.Errorf("invalid mode: %s: propagation applies to bind mounts only", mode)
			}
			v.Propagation = o
		}
	}
	return nil
}

// ValidVolumeName checks a volume name as Docker's local driver does:
// [a-zA-Z0-9][a-zA-Z0-9_.-]+ (so at least two characters).
func ValidVolumeName(name string) error {
	if len(name) == 1 {
		return fmt.Errorf("volume name is too short, names should be at least two alphanumeric characters")
	}
	ok := name != ""
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '_' || c == '.' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name)
	}
	return nil
}

// Mount is one --mount value.
type Mount struct {
	Type        string // TypeBind, TypeVolume or TypeTmpfs
	Source      string // host path (bind), volume name ("" = anonymous); empty for tmpfs
	Target      string // absolute, cleaned path in the container
	ReadOnly    bool
	Consistency string // accepted and ignored, as on Linux Docker

	// bind-*
	Propagation  string // bind-propagation
	NonRecursive bool   // bind-recursive=disabled
	CreateSource bool   // bind-create-src

	// volume-*
	NoCopy        bool              // volume-nocopy
	Subpath       string            // volume-subpath
	Labels        map[string]string // volume-label=K=V
	Driver        string            // volume-driver (only "local" exists here)
	DriverOptions map[string]string // volume-opt=K=V

	// tmpfs-*
	TmpfsSize int64       // tmpfs-size, bytes; 0 = the kernel's default
	TmpfsMode os.FileMode // tmpfs-mode, octal; 0 = the kernel's default
}

const mountFlag = "--mount"

// ParseMount parses a --mount value: a CSV record (quotes as encoding/csv,
// so "volume-opt=o=addr=1.2.3.4,ro" can carry commas) of key=value fields,
// exactly as the docker CLI's MountOpt: keys are case-insensitive, type
// defaults to volume, readonly/ro/volume-nocopy/bind-create-src stand alone
// as true, booleans take only true/1/false/0, a bind-*, volume-* or tmpfs-*
// option on another type is refused.
func ParseMount(s string) (Mount, error) {
	m := Mount{Type: TypeVolume}
	fail := func(format string, args ...any) (Mount, error) {
		return Mount{}, bad(mountFlag, s, format, args...)
	}
	value := strings.TrimSpace(s)
	if value == "" {
		return fail("value is empty")
	}
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return fail("%v", err)
	}
	var bindOpt, volumeOpt, tmpfsOpt string
	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		if k := strings.TrimSpace(key); k != key {
			return fail("invalid option '%s' in '%s': option should not have whitespace", k, field)
		}
		if hasValue {
			v := strings.TrimSpace(val)
			if v == "" {
				return fail("invalid value for '%s': value is empty", key)
			}
			if v != val {
				return fail("invalid value for '%s' in '%s': value should not have whitespace", key, field)
			}
		}
		key = strings.ToLower(key)
		if !hasValue {
			switch key {
			case "readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src":
			default:
				return fail("invalid field '%s' must be a key=value pair", field)
			}
		}
		switch {
		case strings.HasPrefix(key, "bind-"):
			bindOpt = key
		case strings.HasPrefix(key, "volume-"):
			volumeOpt = key
		case strings.HasPrefix(key, "tmpfs-"):
			tmpfsOpt = key
		}
		switch key {
		case "type":
			m.Type = strings.ToLower(val)
		case "source", "src":
			m.Source = val
			if !filepath.IsAbs(val) && strings.HasPrefix(val, ".") {
				if abs, err := filepath.Abs(val); err == nil {
					m.Source = abs
				}
			}
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			if m.ReadOnly, err = parseBoolValue(key, val, hasValue); err != nil {
				return fail("%v", err)
			}
		case "consistency":
			m.Consistency = strings.ToLower(val)
		case "bind-propagation":
			p := strings.ToLower(val)
			if modeGroup(p) != "propagation" {
				return fail("invalid value for %s: %s", key, val)
			}
			m.Propagation = p
		case "bind-nonrecursive":
			return fail("bind-nonrecursive is deprecated, use bind-recursive=disabled instead")
		case "bind-recursive":
			switch val {
			case "enabled":
			case "disabled":
				m.NonRecursive = true
			default:
				// writable and readonly depend on Docker 25's recursive
				// read-only mounts, which Hutch does not distinguish yet.
				return fail(`invalid value for %s: %s (must be "enabled" or "disabled")`, key, val)
			}
		case "bind-create-src":
			if m.CreateSource, err = parseBoolValue(key, val, hasValue); err != nil {
				return fail("%v", err)
			}
		case "volume-subpath":
			m.Subpath = val
		case "volume-nocopy":
			if m.NoCopy, err = parseBoolValue(key, val, hasValue); err != nil {
				return fail("%v", err)
			}
		case "volume-label":
			m.Labels = setValueOnMap(m.Labels, val)
		case "volume-driver":
			m.Driver = val
		case "volume-opt":
			m.DriverOptions = setValueOnMap(m.DriverOptions, val)
		case "tmpfs-size":
			n, err := ParseSize(val)
			if err != nil {
				return fail("invalid value for %s: %s", key, val)
			}
			m.TmpfsSize = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fail("invalid value for %s: %s", key, val)
			}
			m.TmpfsMode = os.FileMode(n)
		default:
			return fail("unknown option '%s' in '%s'", key, field)
		}
	}

	switch m.Type {
	case TypeBind, TypeVolume, TypeTmpfs:
	case "":
		return fail("type is required")
	default:
		return fail("invalid mount type %q: only bind, volume and tmpfs are supported", m.Type)
	}
	if bindOpt != "" && m.Type != TypeBind {
		return fail("cannot mix 'bind-*' options with mount type '%s'", m.Type)
	}
	if volumeOpt != "" && m.Type != TypeVolume {
		return fail("cannot mix 'volume-*' options with mount type '%s'", m.Type)
	}
	if tmpfsOpt != "" && m.Type != TypeTmpfs {
		return fail("cannot mix 'tmpfs-*' options with mount type '%s'", m.Type)
	}
	if m.Target == "" {
		return fail("target is required")
	}
	if !filepath.IsAbs(m.Target) {
		return fail("invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", m.Type, m.Target)
	}
	m.Target = filepath.Clean(m.Target)
	if m.Target == "/" {
		return fail("invalid specification: destination can't be '/'")
	}
	switch m.Type {
	case TypeBind:
		if m.Source == "" {
			return fail("invalid mount config for type \"bind\": field Source must not be empty")
		}
		if !filepath.IsAbs(m.Source) {
			return fail("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", m.Source)
		}
		m.Source = filepath.Clean(m.Source)
	case TypeVolume:
		if m.Source != "" {
			if err := ValidVolumeName(m.Source); err != nil {
				return Mount{}, &Error{Flag: mountFlag, Value: s, Err: err}
			}
		}
		if m.Driver != "" && m.Driver != "local" {
			return fail("volume driver %q is not supported: only \"local\"", m.Driver)
		}
		if m.Source == "" && m.Subpath != "" {
			return fail("invalid mount config for type \"volume\": subpath requires a named volume")
		}
	case TypeTmpfs:
		if m.Source != "" {
			return fail("invalid mount config for type \"tmpfs\": field Source must be empty")
		}
	}
	return m, nil
}

// parseBoolValue is the docker CLI's: true when the key stands alone, else
// only 1, true, 0, false.
func parseBoolValue(key, val string, hasValue bool) (bool, error) {
	if !hasValue {
		return true, nil
	}
	switch val {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf(`invalid value for '%s': invalid boolean value (%q): must be one of "true", "1", "false", or "0" (default "true")`, key, val)
}

func setValueOnMap(m map[string]string, kv string) map[string]string {
	k, v, _ := strings.Cut(kv, "=")
	if k == "" {
		return m
	}
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// Tmpfs is one --tmpfs value.
type Tmpfs struct {
	Destination string   // absolute, cleaned path in the container
	Options     []string // mount options as given (size=64m, mode=1777, noexec ...)
}

const tmpfsFlag = "--tmpfs"

// tmpfsData are the key=value options dockerd's ParseTmpfsOptions lets
// through to tmpfs; tmpfsFlags the mount flags it understands.
var (
	tmpfsData  = map[string]bool{"size": true, "mode": true, "uid": true, "gid": true, "nr_inodes": true, "nr_blocks": true, "mpol": true, "huge": true, "noswap": true}
	tmpfsFlags = map[string]bool{
		"defaults": true, "ro": true, "rw": true, "suid": true, "nosuid": true,
		"dev": true, "nodev": true, "exec": true, "noexec": true, "sync": true,
		"async": true, "dirsync": true, "remount": true, "mand": true, "nomand": true,
		"atime": true, "noatime": true, "diratime": true, "nodiratime": true,
		"relatime": true, "norelatime": true, "strictatime": true, "nostrictatime": true,
		"private": true, "rprivate": true, "shared": true, "rshared": true,
		"slave": true, "rslave": true, "unbindable": true, "runbindable": true,
		"tmpcopyup": true, "notmpcopyup": true,
	}
)

// ParseTmpfs parses a --tmpfs value, /path[:opts], opts being tmpfs mount
// options separated by commas (`/run:rw,noexec,nosuid,size=65536k`). The
// options are checked as dockerd does (mount flags, or size= mode= uid= gid=
// nr_inodes= nr_blocks= mpol=); size= is checked with Docker's size syntax
// because the kernel's own (k, m, g, %) would fail only at mount time.
func ParseTmpfs(s string) (Tmpfs, error) {
	dst, opts, _ := strings.Cut(s, ":")
	if dst == "" || !filepath.IsAbs(dst) {
		return Tmpfs{}, bad(tmpfsFlag, s, "invalid mount path: '%s' mount path must be absolute", dst)
	}
	t := Tmpfs{Destination: filepath.Clean(dst)}
	if t.Destination == "/" {
		return Tmpfs{}, bad(tmpfsFlag, s, "invalid specification: destination can't be '/'")
	}
	if opts == "" {
		return t, nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, hasValue := strings.Cut(o, "=")
		switch {
		case hasValue && tmpfsData[k]:
			if k == "mode" {
				if _, err := strconv.ParseUint(v, 8, 32); err != nil {
					return Tmpfs{}, bad(tmpfsFlag, s, "invalid tmpfs mode %q: not an octal number", v)
				}
			}
			if k == "size" && !strings.HasSuffix(v, "%") {
				if _, err := ParseSize(v); err != nil {
					return Tmpfs{}, bad(tmpfsFlag, s, "invalid tmpfs size %q", v)
				}
			}
		case !hasValue && tmpfsFlags[k]:
		default:
			return Tmpfs{}, bad(tmpfsFlag, s, "invalid tmpfs option %q", o)
		}
		t.Options = append(t.Options, o)
	}
	return t, nil
}

// CheckDuplicateDestinations refuses two mounts on one container path,
// whatever flags they came from (-v, --mount, --tmpfs), as dockerd does.
// Paths are compared cleaned.
func CheckDuplicateDestinations(destinations ...string) error {
	seen := make(map[string]bool, len(destinations))
	for _, d := range destinations {
		c := filepath.Clean(d)
		if seen[c] {
			return errdefs.InvalidArgument("duplicate mount point: %s", c)
		}
		seen[c] = true
	}
	return nil
}
