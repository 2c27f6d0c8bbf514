package integration

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestEngineLogsRotation(t *testing.T) {
	// 100 MB of numbered lines through max-size 1m, max-file 3, with a
	// `logs -f` following all along.
	e := newEngine(t)
	const lines = 1000000 // 100 bytes each
	id := e.runDetached("--name", "chatty", "--log-opt", "max-size=1m", "--log-opt", "max-file=3", e.image,
		"awk", "BEGIN { for (i = 1; i <= "+strconv.Itoa(lines)+"; i++) printf \"%099d\\n\", i }")
	cmd := e.command(t.Context(), "logs", "-f", "chatty")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The follower sees increasing numbers, never one twice, and ends
	// with the last one when the container is done. (It may miss lines:
	// a follower that falls two files behind loses what rotation
	// deletes, as with Docker.)
	sc := bufio.NewScanner(out)
	last, seen := 0, 0
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimLeft(sc.Text(), "0"))
		if err != nil || len(sc.Text()) != 99 {
			t.Fatalf("followed line %q", sc.Text())
		}
		if n <= last {
			t.Fatalf("followed %d after %d", n, last)
		}
		last = n
		seen++
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("logs -f: %v", err)
	}
	if last != lines {
		t.Errorf("logs -f ended at %d, want %d (saw %d lines)", last, lines, seen)
	}
	if got := strings.TrimSpace(e.ok("wait", "chatty")); got != "0" {
		t.Errorf("wait: %s", got)
	}
	// On disk: the live file and two rotated ones, none over the cap.
	logPath := filepath.Join(e.root, "containers", id, "container.log")
	for _, p := range []string{logPath, logPath + ".1", logPath + ".2"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("log file: %v", err)
			continue
		}
		if st.Size() > 1000000 {
			t.Errorf("%s: %d bytes, over max-size 1m", p, st.Size())
		}
	}
	if _, err := os.Stat(logPath + ".3"); err == nil {
		t.Errorf("a fourth log file with max-file=3")
	}
	// `logs` reads what is left, oldest first, ending with the last line.
	tail := strings.Split(strings.TrimSpace(e.ok("logs", "--tail", "2", "chatty")), "\n")
	if len(tail) != 2 || strings.TrimLeft(tail[1], "0") != strconv.Itoa(lines) {
		t.Errorf("logs --tail 2: %q", tail)
	}
}
