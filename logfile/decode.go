package logfile

import (
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Entry is one entry of a log.
type Entry struct {
	Stream string    // "stdout" or "stderr"
	Time   time.Time // when the line (or its first piece) was read from the container
	// Line is the output as logged, with its "\n" when it is a whole line.
	// Printing the Lines of a log one after another gives back the output.
	// It is only valid during the call to Read's callback.
	Line []byte
	// Partial is true when Line does not end the line: the line was longer
	// than MaxLine, or the stream ended (or was flushed) without a newline.
	Partial bool
}

// decoder turns json-file lines into Entries. It is a small hand-written
// JSON object reader: it decodes the "log", "stream" and "time" members,
// skips any other (Docker's "attrs"), and reuses one buffer, so reading a log
// allocates nothing per line.
type decoder struct {
	log    []byte
	stream []byte
	tm     []byte
}

// decode parses one line (without its "\n") into e. It reports false for
// anything that is not a JSON object with a valid "time" string.
func (d *decoder) decode(line []byte, e *Entry) bool {
	d.log, d.stream, d.tm = d.log[:0], d.stream[:0], d.tm[:0]
	var hasTime bool
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		return false
	}
	for {
		if i >= len(line) || line[i] != '"' {
			return false
		}
		key, j, ok := rawKey(line, i)
		if !ok {
			return false
		}
		i = skipSpace(line, j)
		if i >= len(line) || line[i] != ':' {
			return false
		}
		i = skipSpace(line, i+1)
		var dst *[]byte
		switch key {
		case "log":
			dst = &d.log
		case "stream":
			dst = &d.stream
		case "time":
			dst = &d.tm
		}
		if dst != nil && i < len(line) && line[i] == '"' {
			*dst = (*dst)[:0]
			if *dst, i, ok = unquote(*dst, line, i); !ok {
				return false
			}
			if key == "time" {
				hasTime = true
			}
		} else {
			if i, ok = skipValue(line, i, 0); !ok {
				return false
			}
		}
		i = skipSpace(line, i)
		if i >= len(line) {
			return false
		}
		if line[i] == '}' {
			break
		}
		if line[i] != ',' {
			return false
		}
		i = skipSpace(line, i+1)
	}
	if skipSpace(line, i+1) != len(line) || !hasTime {
		return false
	}
	t, ok := parseTime(d.tm)
	if !ok {
		return false
	}
	e.Time = t
	e.Line = d.log
	e.Partial = len(d.log) == 0 || d.log[len(d.log)-1] != '\n'
	switch string(d.stream) {
	case "stdout":
		e.Stream = "stdout"
	case "stderr":
		e.Stream = "stderr"
	default:
		e.Stream = string(d.stream)
	}
	return true
}

func skipSpace(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// rawKey returns the member name starting at s[i] == '"' when it has no
// escapes (Docker's never do); an escaped name is returned as "" so it
// matches no field, and the member is skipped.
func rawKey(s []byte, i int) (string, int, bool) {
	start := i + 1
	escaped := false
	for j := start; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			if escaped {
				_, end, ok := unquote(nil, s, i)
				return "", end, ok
			}
			// Converting in a switch on the result does not allocate.
			switch string(s[start:j]) {
			case "log":
				return "log", j + 1, true
			case "stream":
				return "stream", j + 1, true
			case "time":
				return "time", j + 1, true
			}
			return "", j + 1, true
		case c == '\\':
			escaped = true
			j++
		case c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// unquote appends the JSON string starting at s[i] == '"' to dst and returns
// the index after its closing quote. As encoding/json does, it turns bytes
// that are not valid UTF-8 and lone surrogates into U+FFFD.
func unquote(dst, s []byte, i int) ([]byte, int, bool) {
	i++
	start := i
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return append(dst, s[start:i]...), i + 1, true
		case c < 0x20:
			return dst, 0, false
		case c == '\\':
			dst = append(dst, s[start:i]...)
			if i+1 >= len(s) {
				return dst, 0, false
			}
			switch s[i+1] {
			case '"', '\\', '/':
				dst = append(dst, s[i+1])
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := hex4(s, i+2)
				if !ok {
					return dst, 0, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if r2, ok = hex4(s, i+2); !ok {
							return dst, 0, false
						}
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				dst = utf8.AppendRune(dst, r)
				start = i
				continue
			default:
				return dst, 0, false
			}
			i += 2
			start = i
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
		}
	}
	return dst, 0, false
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipValue returns the index after the JSON value at s[i].
func skipValue(s []byte, i, depth int) (int, bool) {
	if i >= len(s) || depth > 100 {
		return 0, false
	}
	switch c := s[i]; {
	case c == '"':
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '"':
				return j + 1, true
			case '\\':
				j++
			}
		}
		return 0, false
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = skipSpace(s, i+1)
		if i < len(s) && s[i] == end {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(s) || s[i] != '"' {
					return 0, false
				}
				var ok bool
				if i, ok = skipValue(s, i, depth+1); !ok {
					return 0, false
				}
				i = skipSpace(s, i)
				if i >= len(s) || s[i] != ':' {
					return 0, false
				}
				i = skipSpace(s, i+1)
			}
			var ok bool
			if i, ok = skipValue(s, i, depth+1); !ok {
				return 0, false
			}
			i = skipSpace(s, i)
			if i >= len(s) {
				return 0, false
			}
			if s[i] == end {
				return i + 1, true
			}
			if s[i] != ',' {
				return 0, false
			}
			i = skipSpace(s, i+1)
		}
	default:
		// A number, true, false or null: up to the next delimiter.
		j := i
		for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\t' && s[j] != '\r' && s[j] != '\n' {
			j++
		}
		if j == i {
			return 0, false
		}
		return j, true
	}
}

// parseTime reads the RFC 3339 times Docker writes
// (2026-11-29T10:00:00.123456789Z, fraction optional, Z or ±hh:mm) without
// allocating, and hands anything else to time.Parse.
func parseTime(b []byte) (time.Time, bool) {
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	if len(b) >= 20 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[len(b)-1] == 'Z' {
		y, mo, d := num(0, 4), num(5, 2), num(8, 2)
		h, mi, sec := num(11, 2), num(14, 2), num(17, 2)
		ns, i := 0, 19
		if b[i] == '.' {
			i++
			digits := 0
			for ; i < len(b)-1 && b[i] >= '0' && b[i] <= '9'; i++ {
				if digits < 9 {
					ns = ns*10 + int(b[i]-'0')
					digits++
				}
			}
			if digits == 0 {
				i = -1
			}
			for ; digits < 9 && digits > 0; digits++ {
				ns *= 10
			}
		}
		if i == len(b)-1 && y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h < 24 && mi >= 0 && mi < 60 && sec >= 0 && sec < 60 {
			if t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC); t.Day() == d {
				return t, true
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	return t, err == nil
}
