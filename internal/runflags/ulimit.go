package runflags

import (
	"strconv"
	"strings"
)

// Ulimit is one --ulimit value. -1 means unlimited (RLIM_INFINITY).
type Ulimit struct {
	Name string // as given: "nofile"
	Soft int64
	Hard int64
}

// RlimitType is the OCI runtime spec's name of the limit: "RLIMIT_NOFILE".
func (u Ulimit) RlimitType() string { return "RLIMIT_" + strings.ToUpper(u.Name) }

// ulimitNames are the limits Docker takes (go-units' ulimitNameMapping).
var ulimitNames = map[string]bool{
	"core": true, "cpu": true, "data": true, "fsize": true, "locks": true,
	"memlock": true, "msgqueue": true, "nice": true, "nofile": true, "nproc": true,
	"rss": true, "rtprio": true, "rttime": true, "sigpending": true, "stack": true,
}

// ParseUlimit parses --ulimit name=soft[:hard] as go-units does
// ("nofile=1024:2048", "nproc=512", "memlock=-1:-1"); a missing hard limit
// equals the soft one; soft above hard is refused.
func ParseUlimit(s string) (Ulimit, error) {
	const flag = "--ulimit"
	name, vals, ok := strings.Cut(s, "=")
	if !ok {
		return Ulimit{}, bad(flag, s, "invalid ulimit argument: %s", s)
	}
	if !ulimitNames[name] {
		return Ulimit{}, bad(flag, s, "invalid ulimit type: %s", name)
	}
	parts := strings.Split(vals, ":")
	if len(parts) > 2 {
		return Ulimit{}, bad(flag, s, "too many limit value arguments - %s, can only have up to two, `soft[:hard]`", vals)
	}
	var lim [2]int64
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < -1 {
			return Ulimit{}, bad(flag, s, "invalid ulimit value %q: a number, or -1 for unlimited", p)
		}
		lim[i] = n
	}
	u := Ulimit{Name: name, Soft: lim[0], Hard: lim[0]}
	if len(parts) == 2 {
		u.Hard = lim[1]
	}
	if u.Hard != -1 && (u.Soft == -1 || u.Soft > u.Hard) {
		return Ulimit{}, bad(flag, s, "ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
	}
	return u, nil
}
