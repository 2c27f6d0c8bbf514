package runflags

import (
	"strconv"
	"time"
)

// HealthcheckFlags are the raw --health-* and --no-healthcheck values;
// an empty string is a flag not given.
type HealthcheckFlags struct {
	Cmd           string // --health-cmd
	Interval      string // --health-interval
	Timeout       string // --health-timeout
	StartPeriod   string // --health-start-period
	StartInterval string // --health-start-interval
	Retries       string // --health-retries
	None          bool   // --no-healthcheck
}

// HealthConfig is the container's healthcheck, shaped as Docker's and the
// image config's (go-containerregistry's v1.HealthConfig). Zero durations
// and retries mean "inherit from the image, else the default".
type HealthConfig struct {
	Test          []string // ["NONE"], or ["CMD-SHELL", cmd]; nil keeps the image's test
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// minHealthDuration is dockerd's floor for a non-zero duration.
const minHealthDuration = time.Millisecond

// ParseHealthcheck builds the healthcheck as the docker CLI: nil when no
// flag is given; Test ["NONE"] for --no-healthcheck, which conflicts with
// every --health-* flag; --health-cmd becomes ["CMD-SHELL", cmd]; durations
// in Go's syntax ("30s", "1m30s"), neither negative nor below 1ms (dockerd);
// retries a non-negative integer.
func ParseHealthcheck(f HealthcheckFlags) (*HealthConfig, error) {
	given := f.Cmd != "" || f.Interval != "" || f.Timeout != "" || f.StartPeriod != "" || f.StartInterval != "" || f.Retries != ""
	if f.None {
		if given {
			return nil, bad("--no-healthcheck", "true", "--no-healthcheck conflicts with --health-* options")
		}
		return &HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !given {
		return nil, nil
	}
	h := &HealthConfig{}
	if f.Cmd != "" {
		h.Test = []string{"CMD-SHELL", f.Cmd}
	}
	for _, d := range []struct {
		flag string
		val  string
		to   *time.Duration
	}{
		{"--health-interval", f.Interval, &h.Interval},
		{"--health-timeout", f.Timeout, &h.Timeout},
		{"--health-start-period", f.StartPeriod, &h.StartPeriod},
		{"--health-start-interval", f.StartInterval, &h.StartInterval},
	} {
		if d.val == "" {
			continue
		}
		v, err := time.ParseDuration(d.val)
		if err != nil {
			return nil, bad(d.flag, d.val, "time: invalid duration %q", d.val)
		}
		if v < 0 {
			return nil, bad(d.flag, d.val, "%s cannot be negative", d.flag)
		}
		if v != 0 && v < minHealthDuration {
			return nil, bad(d.flag, d.val, "%s cannot be less than %s", d.flag, minHealthDuration)
		}
		*d.to = v
	}
	if f.Retries != "" {
		n, err := strconv.Atoi(f.Retries)
		if err != nil {
			return nil, bad("--health-retries", f.Retries, "not an integer")
		}
		if n < 0 {
			return nil, bad("--health-retries", f.Retries, "--health-retries cannot be negative")
		}
		h.Retries = n
	}
	return h, nil
}
