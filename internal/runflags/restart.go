package runflags

import (
	"strconv"
	"strings"
)

// Restart policy names, as Docker's.
const (
	RestartNo            = "no"
	RestartAlways        = "always"
	RestartOnFailure     = "on-failure"
	RestartUnlessStopped = "unless-stopped"
)

// RestartPolicy is a --restart value.
type RestartPolicy struct {
	Name              string // one of the Restart* names
	MaximumRetryCount int    // on-failure only; 0 = no limit
}

// ParseRestart parses --restart as the docker CLI and dockerd together:
// "no", "always", "unless-stopped", "on-failure" or "on-failure:N" with
// N >= 0. "" gives "no". A count with another policy is refused.
func ParseRestart(s string) (RestartPolicy, error) {
	const flag = "--restart"
	if s == "" {
		return RestartPolicy{Name: RestartNo}, nil
	}
	name, count, hasCount := strings.Cut(s, ":")
	if hasCount && name == "" {
		return RestartPolicy{}, bad(flag, s, "invalid restart policy format: no policy provided before colon")
	}
	p := RestartPolicy{Name: name}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return RestartPolicy{}, bad(flag, s, "invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	switch name {
	case RestartNo, RestartAlways, RestartUnlessStopped:
		if p.MaximumRetryCount != 0 {
			return RestartPolicy{}, bad(flag, s, "invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case RestartOnFailure:
		if p.MaximumRetryCount < 0 {
			return RestartPolicy{}, bad(flag, s, "invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return RestartPolicy{}, bad(flag, s, "invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", name)
	}
	return p, nil
}
