package mount

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountRefusesOptionsBeyondAPage(t *testing.T) {
	long := "lowerdir=" + strings.Repeat("/x", 3000)
	err := Mount{Type: "overlay", Source: "overlay", Options: []string{long}}.Mount(t.TempDir())
	if !errors.Is(err, unix.E2BIG) {
		t.Fatalf("got %v, want E2BIG", err)
	}
}
