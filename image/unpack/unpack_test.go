package unpack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hutch.dev/hutch/errdefs"
)

func TestOpenRemembersDriver(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (overlay probe)")
	}
	root := t.TempDir()
	if _, d, err := Open(root, Native); err != nil || d != Native {
		t.Fatalf("Open native: %q %v", d, err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "storage-driver")); strings.TrimSpace(string(b)) != Native {
		t.Fatalf("storage-driver = %q", b)
	}
	if _, d, err := Open(root, ""); err != nil || d != Native {
		t.Fatalf("reopen: %q %v", d, err)
	}
	if _, _, err := Open(root, Overlay); !errdefs.IsConflict(err) {
		t.Fatalf("overlay on a native root: %v", err)
	}
	if _, _, err := Open(root, "btrfs"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("btrfs: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, Native, "metadata.json")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}
