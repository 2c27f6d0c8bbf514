package logfile

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)

// Lines as dockerd 28 writes them for the same input (its encoder escapes
// <, > and & and writes a tab as \u0009).
func TestEncodeLikeDocker(t *testing.T) {
	for _, c := range []struct {
		log  string
		t    time.Time
		want string
	}{
		{"hello\n", t0, `{"log":"hello\n","stream":"stdout","time":"2026-11-29T10:00:00.123456789Z"}`},
		{"a\tb<c>&\"\\\r\n", t0, `{"log":"a\u0009b\u003cc\u003e\u0026\"\\\r\n","stream":"stdout","time":"2026-11-29T10:00:00.123456789Z"}`},
		{"\x00\x1f\x7f\n", t0, `{"log":"\u0000\u001f` + "\x7f" + `\n","stream":"stdout","time":"2026-11-29T10:00:00.123456789Z"}`},
		{"bad \xff\xfe utf8 \xe2\x82\n", t0, `{"log":"bad \ufffd\ufffd utf8 \ufffd\ufffd\n","stream":"stdout","time":"2026-11-29T10:00:00.123456789Z"}`},
		{"é€😀 \u2028\u2029\n", t0, `{"log":"é€😀 \u2028\u2029\n","stream":"stdout","time":"2026-11-29T10:00:00.123456789Z"}`},
		{"partial", time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.FixedZone("x", 3600)), `{"log":"partial","stream":"stdout","time":"2026-01-02T02:04:05.1Z"}`},
		{"", t0.Truncate(time.Second), `{"stream":"stdout","time":"2026-11-29T10:00:00Z"}`},
	} {
		got := string(appendEntry(nil, "stdout", []byte(c.log), c.t))
		if got != c.want+"\n" {
			t.Errorf("%q:\n got %s\nwant %s", c.log, got, c.want)
		}
	}
}

// dockerUnquoted is what a JSON decoder gives back for a logged line: every
// byte that is not part of valid UTF-8 becomes U+FFFD.
func dockerUnquoted(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			sb.WriteString("\uFFFD")
		} else {
			sb.Write(b[:size])
		}
		b = b[size:]
	}
	return sb.String()
}

type jsonEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func checkRoundTrip(t *testing.T, log []byte) {
	t.Helper()
	line := appendEntry(nil, "stderr", log, t0)
	if !utf8.Valid(line) || line[len(line)-1] != '\n' || bytes.Count(line, []byte{'\n'}) != 1 {
		t.Fatalf("%q: not one valid UTF-8 line: %q", log, line)
	}
	var je jsonEntry
	if err := json.Unmarshal(line, &je); err != nil {
		t.Fatalf("%q: encoding/json: %v in %s", log, err, line)
	}
	want := dockerUnquoted(log)
	if je.Log != want || je.Stream != "stderr" || !je.Time.Equal(t0) {
		t.Fatalf("%q: encoding/json read %+v", log, je)
	}
	var d decoder
	var e Entry
	if !d.decode(line[:len(line)-1], &e) {
		t.Fatalf("%q: decoder refused %s", log, line)
	}
	if string(e.Line) != want || e.Stream != "stderr" || !e.Time.Equal(t0) {
		t.Fatalf("%q: decoder read %q %q %v", log, e.Line, e.Stream, e.Time)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	var all []byte
	for i := 0; i < 256; i++ {
		all = append(all, byte(i))
	}
	for _, s := range []string{"", "x", "plain line\n", "\"\\/\b\f\n\r\t", "\u2028\u2029\u2027\u202a",
		"\xed\xa0\x80 surrogate bytes", "\xf4\x90\x80\x80 too big", "\xc0\xaf overlong", "😀\xf0\x9f\x98",
		string(all), strings.Repeat("é", MaxLine/2)} {
		checkRoundTrip(t, []byte(s))
	}
}

func FuzzEncode(f *testing.F) {
	f.Add([]byte("hello\n"))
	f.Add([]byte("\x00\x01<>&\"\\\u2028\xff\xc3"))
	f.Fuzz(func(t *testing.T, log []byte) {
		checkRoundTrip(t, log)
	})
}

// The decoder reads what encoding/json reads, whatever wrote the line.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"log":"a\u00e9\ud83d\ude00\n","stream":"stdout","time":"2026-11-29T10:00:00Z"}`))
	f.Add([]byte(`{"attrs":{"tag":"x","n":[1,2,{"a":null}]},"time":"2026-11-29T10:00:00.5+01:00","log":"\ud800x"}`))
	f.Add([]byte(` { "log" : "x\/" , "time" : "2026-02-30T10:00:00Z" } `))
	f.Fuzz(func(t *testing.T, line []byte) {
		var d decoder
		var e Entry
		ok := d.decode(line, &e)
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			return
		}
		ts, isStr := m["time"].(string)
		if !isStr {
			return
		}
		jt, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			if ok {
				// Accepting more times than time.Parse is fine only if
				// they are the same instant; there are none.
				t.Fatalf("decoder took time %q that time.Parse refuses", ts)
			}
			return
		}
		if !ok {
			t.Fatalf("decoder refused %q", line)
		}
		log, _ := m["log"].(string)
		stream, _ := m["stream"].(string)
		if string(e.Line) != log || e.Stream != stream || !e.Time.Equal(jt) {
			t.Fatalf("%q: decoder %q %q %v, encoding/json %q %q %v", line, e.Line, e.Stream, e.Time, log, stream, jt)
		}
	})
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{"2026-11-29T10:00:00Z", "2026-11-29T10:00:00.1Z", "2026-11-29T10:00:00.123456789Z",
		"2026-11-29T10:00:00.1234567891Z", "2026-11-29T10:00:00+02:00", "2026-11-29T10:00:00.5-07:30",
		"0001-01-01T00:00:00Z", "2024-02-29T23:59:59.999Z"} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseTime([]byte(s))
		if !ok || !got.Equal(want) {
			t.Errorf("%s: got %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "2026-11-29T10:00:00", "2026-13-29T10:00:00Z", "2026-02-30T10:00:00Z", "2026-11-29T10:00:00.Z",
		"2026-11-29T24:00:00Z", "2026-11-29 10:00:00Z", "2026-11-29T10:00:60Z", "x026-11-29T10:00:00Z"} {
		if got, ok := parseTime([]byte(s)); ok {
			t.Errorf("%q: parsed as %v", s, got)
		}
	}
}
