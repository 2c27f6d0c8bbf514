package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// confirm asks Docker's prune question on stderr and reads the answer from
// stdin; anything but y or yes (an empty stdin too) is no, so a script
// without -f removes nothing by surprise.
func confirm(cmd *cobra.Command, warning string) bool {
	fmt.Fprintf(cmd.ErrOrStderr(), "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	fmt.Fprintln(cmd.ErrOrStderr())
	return false
}
