// Package reference parses image references and normalises them as Docker
// does: "busybox" is "docker.io/library/busybox:latest", "localhost:5000/x"
// is "localhost:5000/x:latest". Parsing is go-containerregistry's name
// package; this package only fixes the spelling Hutch stores and prints
// (go-containerregistry says index.docker.io where Docker says docker.io).
package reference

import (
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"hutch.dev/hutch/errdefs"
)

// DockerHub is the registry a reference without a registry part names.
const DockerHub = "docker.io"

// Parse parses s into a go-containerregistry reference (a tag or a digest;
// a missing tag is "latest"). insecure marks the registry as one that may
// be reached over plain HTTP.
func Parse(s string, insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	// "name:tag@digest" is accepted by Docker; the digest wins.
	if i := strings.Index(s, "@"); i >= 0 {
		if j := strings.LastIndex(s[:i], ":"); j >= 0 && !strings.Contains(s[j:i], "/") {
			s = s[:j] + s[i:]
		}
	}
	r, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, errdefs.InvalidArgument("reference %q: %v", s, err)
	}
	// go-containerregistry is laxer than the distribution grammar for
	// path components ("-x" passes); hold them to Docker's rule.
	for _, c := range strings.Split(r.Context().RepositoryStr(), "/") {
		if !pathComponent.MatchString(c) {
			return nil, errdefs.InvalidArgument("reference %q: invalid repository name component %q", s, c)
		}
	}
	return r, nil
}

// pathComponent is the distribution spec's path-component rule.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)

// Normalize returns the full spelling of s: "docker.io/library/busybox:latest".
func Normalize(s string) (string, error) {
	r, err := Parse(s, false)
	if err != nil {
		return "", err
	}
	return String(r), nil
}

// String is r's full spelling with docker.io for Docker Hub.
func String(r name.Reference) string {
	return Repository(r.Context()) + sep(r) + r.Identifier()
}

func sep(r name.Reference) string {
	if _, ok := r.(name.Digest); ok {
		return "@"
	}
	return ":"
}

// Repository is the repository's full name: "docker.io/library/busybox".
func Repository(repo name.Repository) string {
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = DockerHub
	}
	return reg + "/" + repo.RepositoryStr()
}

// Familiar is the short spelling Docker prints: "docker.io/library/x:1"
// becomes "x:1", "docker.io/user/x:1" becomes "user/x:1"; other registries
// are kept.
func Familiar(full string) string {
	if rest, ok := strings.CutPrefix(full, DockerHub+"/"); ok {
		return strings.TrimPrefix(rest, "library/")
	}
	return full
}

// Split separates a full tagged or digested name into its repository and
// its tag (or digest): ("docker.io/library/x", "1").
func Split(full string) (repo, id string) {
	if i := strings.LastIndex(full, "@"); i >= 0 {
		return full[:i], full[i+1:]
	}
	if i := strings.LastIndex(full, ":"); i > strings.LastIndex(full, "/") {
		return full[:i], full[i+1:]
	}
	return full, ""
}

// IsLoopback reports whether the registry is on this machine (localhost,
// 127.0.0.0/8, ::1): such registries are reached over plain HTTP and
// without TLS verification by default, as Docker does.
func IsLoopback(registry string) bool {
	host := registry
	if strings.HasPrefix(host, "[") {
		if i := strings.Index(host, "]"); i > 0 {
			return host[1:i] == "::1"
		}
	}
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host = host[:i]
	}
	return host == "localhost" || strings.HasPrefix(host, "127.")
}
