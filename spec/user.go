package spec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// maxID is the largest uid or gid accepted, as Docker's (moby/sys/user):
// 2^31-1, so that ids fit a signed 32-bit int everywhere.
const maxID = 1<<31 - 1

// ResolveUser resolves a Docker user spec (`-u`: "", name, uid, name:group,
// uid:gid, ...) against rootfs's /etc/passwd and /etc/group, read inside the
// root, as Docker's daemon does (moby/sys/user.GetExecUser):
//
//   - "" is uid 0; a user found in passwd brings its gid and home; a numeric
//     uid not in passwd is allowed, with gid 0 and home "/"; an unknown name
//     is an error;
//   - an explicit group (name or gid; a numeric gid need not exist) replaces
//     the primary gid, and then no supplementary groups are taken from
//     /etc/group; without one, the groups that list the user are added;
//   - groupAdd (`--group-add`) adds more groups, by name or gid.
//
// AdditionalGids holds the primary gid first, then the others, without
// repeats. rootfs "" reads nothing (names are then unknown).
func ResolveUser(rootfs, user string, groupAdd ...string) (u specs.User, home string, err error) {
	var passwd, group []byte
	if rootfs != "" {
		rootfd, err := openRoot(rootfs)
		if err != nil {
			return u, "", fmt.Errorf("spec: --user %q: %w", user, err)
		}
		defer closeFd(rootfd)
		if passwd, err = readUserFile(rootfd, "/etc/passwd"); err != nil {
			return u, "", fmt.Errorf("spec: --user %q: %w", user, err)
		}
		_, groupArg, _ := strings.Cut(user, ":")
		if groupArg != "" || len(groupAdd) > 0 || passwd != nil {
			if group, err = readUserFile(rootfd, "/etc/group"); err != nil {
				return u, "", fmt.Errorf("spec: --user %q: %w", user, err)
			}
		}
	}
	return resolveUser(user, passwd, group, groupAdd)
}

// readUserFile reads /etc/passwd or /etc/group inside the root: nil and no
// error when there is none (or /etc is not a directory), an empty non-nil
// slice for an empty file.
func readUserFile(rootfd int, name string) ([]byte, error) {
	b, err := readFileInRoot(rootfd, name)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil
	}
	if b == nil && err == nil {
		b = []byte{}
	}
	return b, err
}

// resolveUser is ResolveUser on the contents of passwd and group (nil:
// the image has no such file).
func resolveUser(user string, passwd, group []byte, groupAdd []string) (u specs.User, home string, err error) {
	havePasswd, haveGroup := passwd != nil, group != nil
	userArg, groupArg, _ := strings.Cut(user, ":")
	groupArg, _, _ = strings.Cut(groupArg, ":") // "u:g:junk" is u:g, as Docker
	uid, isUID, err := parseID(userArg)
	if err != nil {
		return u, "", errdefs.InvalidArgument("spec: --user %q: %v", user, err)
	}
	gid, isGID, err := parseID(groupArg)
	if err != nil {
		return u, "", errdefs.InvalidArgument("spec: --user %q: %v", user, err)
	}

	// The user: "" is uid 0 (looked up for its gid and home), a number is
	// a uid, anything else a name; the first matching line wins.
	home = "/"
	var name string
	found := false
	forEachLine(passwd, false, func(f []string) bool {
		lname, luid := field(f, 0), atoi(field(f, 2))
		switch {
		case userArg == "" && luid != 0, isUID && luid != uid, !isUID && userArg != "" && lname != userArg:
			return true
		}
		found, name = true, lname
		uid, gid = luid, atoi(field(f, 3))
		home = field(f, 5)
		return false
	})
	if !found {
		switch {
		case userArg != "" && !isUID:
			if !havePasswd {
				return u, "", errdefs.InvalidArgument("spec: --user %q: no such user: the image has no /etc/passwd", user)
			}
			return u, "", errdefs.InvalidArgument("spec: --user %q: no such user in the image's /etc/passwd", userArg)
		case !isUID:
			uid = 0
		}
		gid = 0
	}
	if groupArg != "" && !isGID {
		gid = -1
	}
	if isGID {
		// An explicit numeric group is taken as a gid even when
		// /etc/group has no such entry.
		gid, _, _ = parseID(groupArg)
	}

	var sgids []int
	if groupArg != "" && !isGID || name != "" && groupArg == "" {
		forEachLine(group, true, func(f []string) bool {
			gname, ggid := field(f, 0), atoi(field(f, 2))
			if groupArg != "" {
				if gname == groupArg {
					gid = ggid
					return false
				}
				return true
			}
			for _, m := range strings.Split(field(f, 3), ",") {
				if m == name {
					sgids = append(sgids, ggid)
					break
				}
			}
			return true
		})
		if gid == -1 {
			if !haveGroup {
				return u, "", errdefs.InvalidArgument("spec: --user %q: no such group: the image has no /etc/group", user)
			}
			return u, "", errdefs.InvalidArgument("spec: --user %q: no such group %q in the image's /etc/group", user, groupArg)
		}
	}

	extra, err := additionalGroups(groupAdd, group, haveGroup)
	if err != nil {
		return u, "", err
	}

	u.UID, u.GID = uint32(uid), uint32(gid)
	u.AdditionalGids = []uint32{u.GID}
	for _, g := range append(sgids, extra...) {
		if !containsU32(u.AdditionalGids, uint32(g)) {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
	}
	if home == "" {
		home = "/"
	}
	return u, home, nil
}

// additionalGroups resolves --group-add: names must be in /etc/group,
// numbers need not be.
func additionalGroups(names []string, group []byte, haveGroup bool) ([]int, error) {
	var out []int
	for _, g := range names {
		id, isNum, err := parseID(g)
		if err != nil {
			return nil, errdefs.InvalidArgument("spec: --group-add %q: %v", g, err)
		}
		found := false
		forEachLine(group, true, func(f []string) bool {
			if isNum && atoi(field(f, 2)) == id || !isNum && field(f, 0) == g {
				id, found = atoi(field(f, 2)), true
				return false
			}
			return true
		})
		if !found && !isNum {
			if !haveGroup {
				return nil, errdefs.InvalidArgument("spec: --group-add %q: no such group: the image has no /etc/group", g)
			}
			return nil, errdefs.InvalidArgument("spec: --group-add %q: no such group in the image's /etc/group", g)
		}
		if id < 0 || id > maxID {
			return nil, errdefs.InvalidArgument("spec: --group-add %q: gids must be in range 0-%d", g, maxID)
		}
		out = append(out, id)
	}
	return out, nil
}

// parseID reads a uid or gid: ("", false) for an empty or non-numeric
// value (a name), an error for a number out of range.
func parseID(s string) (int, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, true, fmt.Errorf("uids and gids must be in range 0-%d", maxID)
		}
		return 0, false, nil
	}
	if n < 0 || n > maxID {
		return 0, true, fmt.Errorf("uids and gids must be in range 0-%d", maxID)
	}
	return n, true, nil
}

// forEachLine calls fn with the colon-separated fields of each non-blank
// line of a passwd or group file until fn returns false. Like Docker (and
// glibc for /etc/group), lines starting with '#' are comments in group
// files; Docker does not skip them in passwd, where they match nothing
// anyway unless a user is named "#...".
func forEachLine(data []byte, comments bool, fn func([]string) bool) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || comments && line[0] == '#' {
			continue
		}
		if !fn(strings.Split(string(line), ":")) {
			return
		}
	}
}

func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// atoi reads a numeric field, 0 for garbage, as moby/sys/user does.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func containsU32(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
