package signame

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	good := map[string]unix.Signal{
		"KILL": unix.SIGKILL, "SIGKILL": unix.SIGKILL, "9": unix.SIGKILL, "term": unix.SIGTERM,
		"SIGUSR1": unix.SIGUSR1, "RTMIN": 34, "RTMIN+3": 37, "SIGRTMAX-2": 62, "RTMAX": 64,
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65", "-1", "SIGBOGUS", "RTMIN+40", "RTMIN3"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}
