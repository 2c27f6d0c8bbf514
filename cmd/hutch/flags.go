package main

import (
	"strings"

	"github.com/spf13/pflag"
)

// stringList is a repeatable string flag (-e A -e B), as pflag's
// StringArray, without its cost: pflag renders every default through an
// encoding/csv writer with a 4 KiB buffer when the flag is defined, and the
// CLI defines some eighty such flags on each start (run, create and their
// `container` twins), a measurable part of every command's start-up.
type stringList []string

func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// Type keeps pflag's name in the help output.
func (l *stringList) Type() string { return "stringArray" }

// String is "" when empty, which pflag's help takes for "no default".
func (l *stringList) String() string {
	if len(*l) == 0 {
		return ""
	}
	return "[" + strings.Join(*l, ",") + "]"
}

// listVarP defines a repeatable string flag on fs.
func listVarP(fs *pflag.FlagSet, p *[]string, name, short, usage string) {
	fs.VarP((*stringList)(p), name, short, usage)
}
