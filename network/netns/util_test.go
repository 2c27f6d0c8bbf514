package netns

import "strings"

func splitLines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
func fields(s string) []string     { return strings.Fields(s) }

func hasPrefixField(fs []string, prefix string) bool {
	for _, f := range fs {
		if f == "-" {
			return false
		}
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	return false
}
