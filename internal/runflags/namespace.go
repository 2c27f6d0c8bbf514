package runflags

import (
	"path/filepath"
	"strings"
)

// Namespace mode kinds.
const (
	NSDefault   = ""          // the engine's default for that namespace
	NSHost      = "host"      // share the host's namespace
	NSPrivate   = "private"   // a new namespace
	NSContainer = "container" // join another container's (Container holds its name or ID)
	NSPath      = "ns"        // join the namespace bind-mounted at Path
	NSShareable = "shareable" // --ipc: a new namespace others may join
	NSNone      = "none"      // --ipc: a new namespace without /dev/shm
	NSKeepID    = "keep-id"   // --userns (rootless): map the caller's IDs to the same IDs inside
)

// NamespaceMode is a --pid, --ipc, --uts, --cgroupns or --userns value.
type NamespaceMode struct {
	Kind      string // one of the NS* kinds
	Container string // NSContainer: name or ID
	Path      string // NSPath: absolute path of a namespace file
}

// ParseNamespaceMode parses the grammar every namespace flag shares:
// "" (default), "host", "private", "container:NAME" or "ns:/path"
// (the last as Podman's; Docker has no equivalent). The per-flag parsers
// below narrow it to what each flag takes.
func ParseNamespaceMode(s string) (NamespaceMode, error) {
	return parseNamespace("", s, NSHost, NSPrivate, NSContainer, NSPath)
}

// ParsePIDMode parses --pid: host, container:NAME, private, ns:/path.
func ParsePIDMode(s string) (NamespaceMode, error) {
	return parseNamespace("--pid", s, NSHost, NSPrivate, NSContainer, NSPath)
}

// ParseIPCMode parses --ipc: host, container:NAME, private, shareable,
// none (Docker's), ns:/path.
func ParseIPCMode(s string) (NamespaceMode, error) {
	return parseNamespace("--ipc", s, NSHost, NSPrivate, NSContainer, NSPath, NSShareable, NSNone)
}

// ParseUTSMode parses --uts: host (Docker's only value), private, ns:/path.
func ParseUTSMode(s string) (NamespaceMode, error) {
	return parseNamespace("--uts", s, NSHost, NSPrivate, NSPath)
}

// ParseCgroupnsMode parses --cgroupns: host or private, as Docker.
func ParseCgroupnsMode(s string) (NamespaceMode, error) {
	return parseNamespace("--cgroupns", s, NSHost, NSPrivate)
}

// ParseUserNS parses --userns. Docker takes only "host" (leave a
// daemon-wide remapping); Hutch, like Podman, has no daemon-wide setting and
// also takes private (a new user namespace), keep-id (rootless: the caller's
// UID and GID are the same inside), container:NAME and ns:/path.
func ParseUserNS(s string) (NamespaceMode, error) {
	return parseNamespace("--userns", s, NSHost, NSPrivate, NSKeepID, NSContainer, NSPath)
}

func parseNamespace(flag, s string, allowed ...string) (NamespaceMode, error) {
	if s == "" {
		return NamespaceMode{}, nil
	}
	kind, arg, hasArg := strings.Cut(s, ":")
	ok := false
	for _, a := range allowed {
		ok = ok || a == kind
	}
	if !ok {
		return NamespaceMode{}, bad(flag, s, "invalid namespace mode %q: use one of %s", kind, strings.Join(allowed, ", "))
	}
	m := NamespaceMode{Kind: kind}
	switch kind {
	case NSContainer:
		if arg == "" {
			return NamespaceMode{}, bad(flag, s, "container: needs a container name or ID")
		}
		m.Container = arg
	case NSPath:
		if !filepath.IsAbs(arg) {
			return NamespaceMode{}, bad(flag, s, "ns: needs an absolute path to a namespace file")
		}
		m.Path = filepath.Clean(arg)
	default:
		if hasArg {
			return NamespaceMode{}, bad(flag, s, "%s takes no argument", kind)
		}
	}
	return m, nil
}
