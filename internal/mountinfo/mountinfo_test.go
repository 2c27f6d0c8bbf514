package mountinfo

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	text := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
35 22 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
40 22 0:40 /dir\040with\040space /mnt/a\040b rw master:3 - tmpfs tmpfs rw,size=1k
`
	ms, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("%d mounts", len(ms))
	}
	m := ms[1]
	if m.ID != 35 || m.Parent != 22 || m.Mountpoint != "/sys/fs/cgroup/memory" || m.FSType != "cgroup" ||
		m.SuperOptions != "rw,memory" || m.Optional != "shared:14" {
		t.Errorf("cgroup line: %+v", m)
	}
	if ms[2].Root != "/dir with space" || ms[2].Mountpoint != "/mnt/a b" {
		t.Errorf("escapes: %+v", ms[2])
	}
	if _, err := Parse(strings.NewReader("garbage\n")); err == nil {
		t.Error("bad line accepted")
	}
}
