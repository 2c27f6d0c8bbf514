package logfile

import (
	"errors"
	"strconv"
)

// ParseOptions reads the json-file driver's --log-opt values as Docker does:
// max-size (a size with an optional k, m, g, t or p suffix, in powers of
// 1000 as Docker's units.FromHumanSize: "10m" is 10,000,000 bytes),
// max-file (at least 1), compress (accepted only as false for now). The
// options Docker takes to add "attrs" to entries (labels, labels-regex, env,
// env-regex, tag) are accepted and have no effect. Anything else is an
// error, with Docker's message.
func ParseOptions(config map[string]string) (Options, error) {
	var opts Options
	for key, val := range config {
		switch key {
		case "max-size":
			n, err := ParseSize(val)
			if err != nil {
				return Options{}, err
			}
			if n <= 0 {
				return Options{}, errors.New("max-size must be a positive number")
			}
			opts.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(val)
			if err != nil {
				return Options{}, errors.New("invalid max-file: " + strconv.Quote(val))
			}
			if n < 1 {
				return Options{}, errors.New("max-file cannot be less than 1")
			}
			opts.MaxFiles = n
		case "compress":
			on, err := strconv.ParseBool(val)
			if err != nil {
				return Options{}, errors.New("invalid compress: " + strconv.Quote(val))
			}
			if on {
				return Options{}, errors.New("compress is not supported by hutch's json-file driver")
			}
		case "labels", "labels-regex", "env", "env-regex", "tag":
		default:
			return Options{}, errors.New("unknown log opt '" + key + "' for json-file log driver")
		}
	}
	if opts.MaxSize == 0 {
		// Docker keeps one file when there is no size to rotate at.
		opts.MaxFiles = 1
	}
	return opts, nil
}

// ParseSize reads a size as Docker's units.FromHumanSize: a decimal number,
// an optional space, an optional unit k, m, g, t or p (any case, powers of
// 1000), an optional i and an optional b: "1024", "10m", "1.5 GB", "5kb".
func ParseSize(s string) (int64, error) {
	bad := func() (int64, error) { return 0, errors.New("invalid size: " + strconv.Quote(s)) }
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 || s[0] == '.' || s[i-1] == '.' {
		return bad()
	}
	num, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return bad()
	}
	rest := s[i:]
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	mult := 1.0
	if len(rest) > 0 {
		switch rest[0] | 0x20 {
		case 'k':
			mult = 1e3
		case 'm':
			mult = 1e6
		case 'g':
			mult = 1e9
		case 't':
			mult = 1e12
		case 'p':
			mult = 1e15
		}
		if mult != 1 {
			rest = rest[1:]
		}
	}
	if len(rest) > 0 && rest[0]|0x20 == 'i' {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0]|0x20 == 'b' {
		rest = rest[1:]
	}
	if rest != "" || num*mult >= 1<<63 {
		return bad()
	}
	return int64(num * mult), nil
}
