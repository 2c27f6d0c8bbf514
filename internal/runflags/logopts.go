package runflags

import (
	"strconv"
	"strings"
)

// LogOptions are the --log-opt values of Docker's json-file driver, the
// one Hutch writes.
type LogOptions struct {
	MaxSize  int64 // max-size, bytes; 0 = never rotate
	MaxFile  int   // max-file, files kept including the current one (default 1)
	Compress bool  // compress: gzip rotated files

	// Passed through for the log record's attributes, as Docker's.
	Tag         string // tag
	Labels      string // labels: comma list of container label keys
	LabelsRegex string // labels-regex
	Env         string // env: comma list of environment keys
	EnvRegex    string // env-regex

	// Options every Docker driver takes.
	Mode          string // mode: "blocking" (default) or "non-blocking"
	MaxBufferSize int64  // max-buffer-size (non-blocking only), bytes
}

// ParseLogOpts parses --log-opt key=value values as Docker's json-file
// driver validates them: an unknown key is refused ("unknown log opt 'x'
// for json-file log driver"); max-size uses go-units' FromHumanSize, which
// is decimal (10m = 10,000,000 bytes, as Docker's json-file); max-file is
// at least 1; compress needs max-file above 1 and a max-size.
func ParseLogOpts(list []string) (LogOptions, error) {
	const flag = "--log-opt"
	o := LogOptions{MaxFile: 1}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return LogOptions{}, bad(flag, kv, "invalid log opt '%s': must be key=value", kv)
		}
		switch k {
		case "max-size":
			n, err := parseSize(v, 1000)
			if err != nil {
				return LogOptions{}, bad(flag, kv, "%v", err)
			}
			if n <= 0 {
				return LogOptions{}, bad(flag, kv, "max-size must be a positive number")
			}
			o.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil {
				return LogOptions{}, bad(flag, kv, "max-file must be a number")
			}
			if n < 1 {
				return LogOptions{}, bad(flag, kv, "max-file cannot be less than 1")
			}
			o.MaxFile = n
		case "compress":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return LogOptions{}, bad(flag, kv, "compress must be a boolean")
			}
			o.Compress = b
		case "tag":
			o.Tag = v
		case "labels":
			o.Labels = v
		case "labels-regex":
			o.LabelsRegex = v
		case "env":
			o.Env = v
		case "env-regex":
			o.EnvRegex = v
		case "mode":
			if v != "blocking" && v != "non-blocking" {
				return LogOptions{}, bad(flag, kv, "unknown log mode: %s", v)
			}
			o.Mode = v
		case "max-buffer-size":
			n, err := ParseSize(v)
			if err != nil {
				return LogOptions{}, bad(flag, kv, "could not parse buffer size: %s", v)
			}
			o.MaxBufferSize = n
		default:
			return LogOptions{}, bad(flag, kv, "unknown log opt '%s' for json-file log driver", k)
		}
	}
	if o.Compress && (o.MaxFile < 2 || o.MaxSize == 0) {
		return LogOptions{}, bad(flag, strings.Join(list, ","), "compress cannot be true when max-file is less than 2 or max-size is not set")
	}
	if o.MaxBufferSize != 0 && o.Mode != "non-blocking" {
		return LogOptions{}, bad(flag, strings.Join(list, ","), "max-buffer-size option is only supported with 'mode=non-blocking'")
	}
	return o, nil
}
