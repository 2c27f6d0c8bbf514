// Package mountinfo parses /proc/<pid>/mountinfo.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Mount is one line of mountinfo (proc(5)).
type Mount struct {
	ID, Parent   int
	Root         string // the root of the mount within its filesystem
	Mountpoint   string
	Options      string // per-mount options
	Optional     string // shared:N master:N ...
	FSType       string
	Source       string
	SuperOptions string
}

// Read parses the mount table of the calling process.
func Read() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}

// Parse reads mountinfo text.
func Parse(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		sep := strings.Index(line, " - ")
		if sep < 0 {
			return nil, fmt.Errorf("mountinfo: bad line %q", line)
		}
		pre := strings.Fields(line[:sep])
		post := strings.Fields(line[sep+3:])
		if len(pre) < 6 || len(post) < 2 {
			return nil, fmt.Errorf("mountinfo: bad line %q", line)
		}
		m := Mount{Root: unescape(pre[3]), Mountpoint: unescape(pre[4]), Options: pre[5],
			Optional: strings.Join(pre[6:], " "), FSType: post[0], Source: unescape(post[1])}
		fmt.Sscan(pre[0], &m.ID)
		fmt.Sscan(pre[1], &m.Parent)
		if len(post) > 2 {
			m.SuperOptions = post[2]
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescape undoes the octal escapes (\040 for space ...) of mountinfo.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
