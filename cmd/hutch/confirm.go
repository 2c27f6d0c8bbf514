package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// confirm asks Docker's prune question on stderr and reads the answer from
// stdin; anything but y or yes (an empty stdin too) is no, so a script
// without -f removes nothing by surprise.
func confirm(warning string) bool {
	fmt.Fprintf(os.Stderr, "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	fmt.Fprintln(os.Stderr)
	return false
}
