package logfile

import (
	"time"
	"unicode/utf8"
)

// MaxLine is the longest piece of a line that goes into one entry. Docker's
// log copier reads a container's output into a 16 KiB buffer; when the
// buffer fills without a newline it logs what it has as a partial entry (its
// "log" does not end in "\n") and goes on. Hutch cuts lines at the same place
// so a file written by Hutch reads back like one written by dockerd.
const MaxLine = 16 * 1024

// appendEntry appends one json-file line:
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-29T10:00:00.123456789Z"}\n
//
// with the fields in Docker's order. "log" is left out when empty, as
// Docker's MarshalJSONBuf does (omitempty); the time is UTC in RFC 3339 with
// the trailing zeros of the fraction dropped (time.RFC3339Nano), also as
// Docker writes it.
func appendEntry(dst []byte, stream string, log []byte, t time.Time) []byte {
	dst = append(dst, '{')
	if len(log) > 0 {
		dst = append(dst, `"log":`...)
		dst = appendString(dst, log)
		dst = append(dst, ',')
	}
	if stream != "" {
		dst = append(dst, `"stream":`...)
		dst = appendString(dst, []byte(stream))
		dst = append(dst, ',')
	}
	dst = append(dst, `"time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"', '}', '\n')
}

// appendString appends s as a JSON string, escaped byte for byte as Docker's
// json-file driver does (ffjsonWriteJSONBytesAsString), so that the same
// output makes the same file:
//
//   - '"' and '\\' get a backslash; '\n' and '\r' become \n and \r;
//   - every other byte below 0x20, and '<', '>', '&', become \u00XX
//     (Docker keeps encoding/json's HTML-safe habit; a tab is \u0009);
//   - each byte that does not start a valid UTF-8 sequence becomes \ufffd,
//     one per byte, so a log line is always valid JSON and valid UTF-8;
//   - U+2028 and U+2029 become \u2028 and \u2029 (JavaScript line ends).
//
// Everything else is copied as is.
func appendString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
