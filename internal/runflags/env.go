package runflags

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

const whiteSpaces = " \t"

// ParseEnv resolves -e/--env values as the docker CLI and dockerd do:
// KEY=VALUE is kept as given (the value may be empty or hold "="); a bare
// KEY takes the host's value when the host has one (KEY=host value) and is
// dropped otherwise. An empty key ("=x") is refused.
//
// Docker keeps an unset bare KEY and lets the daemon drop it, where it also
// removes KEY from the image's environment; Hutch drops it here and leaves
// the image's value alone, which differs only for `-e KEY` with KEY unset
// on the host and set by the image.
func ParseEnv(list []string) ([]string, error) {
	return parseEnv(list, os.LookupEnv)
}

func parseEnv(list []string, lookup func(string) (string, bool)) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, e := range list {
		k, _, hasValue := strings.Cut(e, "=")
		if k == "" {
			return nil, bad("-e, --env", e, "invalid environment variable: %s", e)
		}
		if hasValue {
			out = append(out, e)
		} else if v, ok := lookup(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out, nil
}

// ParseEnvFile reads an --env-file in Docker's format: one KEY=VALUE a
// line, the value taken to the end of the line as it is (no quotes removed,
// no variables expanded, trailing spaces kept); leading whitespace ignored;
// blank lines and lines starting with # skipped; a bare KEY takes the host's
// value or is dropped; a UTF-8 BOM at the start is skipped. A key with
// whitespace, a line with no key, or bytes that are not UTF-8 are refused
// with the file and line number.
func ParseEnvFile(path string) ([]string, error) {
	return parseKVFile("--env-file", path, os.LookupEnv)
}

// ParseLabelFile reads a --label-file: the format of --env-file, but a bare
// KEY is dropped (no host lookup), as Docker. Give the result, followed by
// the --label values, to ParseLabels so the flags win.
func ParseLabelFile(path string) ([]string, error) {
	return parseKVFile("--label-file", path, nil)
}

func parseKVFile(flag, path string, lookup func(string) (string, bool)) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Flag: flag, Value: path, Err: err}
	}
	defer f.Close()
	out, err := parseKV(f, lookup)
	if err != nil {
		return nil, bad(flag, path, "invalid env file (%s): %v", path, err)
	}
	return out, nil
}

func parseKV(r io.Reader, lookup func(string) (string, bool)) ([]string, error) {
	lines := []string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("line %d: invalid utf8 bytes", n)
		}
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
		}
		line := strings.TrimLeftFunc(string(b), unicode.IsSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		key, _, hasValue := strings.Cut(line, "=")
		if key == "" {
			return nil, fmt.Errorf("line %d: no variable name on line '%s'", n, line)
		}
		if strings.ContainsAny(key, whiteSpaces) {
			return nil, fmt.Errorf("line %d: variable '%s' contains whitespaces", n, key)
		}
		if hasValue {
			lines = append(lines, line)
		} else if lookup != nil {
			if v, ok := lookup(key); ok {
				lines = append(lines, key+"="+v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return lines, nil
}

// ParseLabels turns --label values (and lines of a label file before them)
// into a map, later values winning: KEY=VALUE, or a bare KEY with an empty
// value. An empty key or one with whitespace is refused, as Docker's
// ValidateLabel.
func ParseLabels(list []string) (map[string]string, error) {
	m := make(map[string]string, len(list))
	for _, l := range list {
		k, v, _ := strings.Cut(l, "=")
		k = strings.TrimLeft(k, whiteSpaces)
		if k == "" {
			return nil, bad("-l, --label", l, "invalid label '%s': empty name", l)
		}
		if strings.ContainsAny(k, whiteSpaces) {
			return nil, bad("-l, --label", l, "label '%s' contains whitespaces", k)
		}
		m[k] = v
	}
	return m, nil
}
