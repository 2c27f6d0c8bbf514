package image

import (
	"strings"

	"golang.org/x/sys/unix"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image/reference"
)

const lockShared = unix.LOCK_SH

// normalizeTag is the full tagged spelling of a name to record; digested
// names are not names (they go to RepoDigests).
func normalizeTag(n string) (string, error) {
	full, err := reference.Normalize(n)
	if err != nil {
		return "", err
	}
	if strings.Contains(full, "@") {
		return "", errdefs.InvalidArgument("name %q: a digest is not a tag", n)
	}
	return full, nil
}
