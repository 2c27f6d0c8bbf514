package main

import (
	"bufio"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/logfile"
)

func logsCommand(g *globals) *cobra.Command {
	var follow, timestamps bool
	var tail, sinceArg, untilArg string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := logfile.ReadOptions{Tail: logfile.All, Follow: follow}
			if tail != "all" && tail != "" {
				n, err := strconv.Atoi(tail)
				if err != nil || n < 0 {
					return errdefs.InvalidArgument("invalid argument %q for \"-n, --tail\" flag: want a number or \"all\"", tail)
				}
				o.Tail = n
			}
			var err error
			if o.Since, err = parseTimeArg(sinceArg, "--since"); err != nil {
				return err
			}
			if o.Until, err = parseTimeArg(untilArg, "--until"); err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			stdout := bufio.NewWriter(os.Stdout)
			stderr := bufio.NewWriter(os.Stderr)
			defer stdout.Flush()
			defer stderr.Flush()
			return g.engine().Logs(ctx, args[0], o, func(en logfile.Entry) error {
				w := stdout
				if en.Stream == "stderr" {
					stdout.Flush()
					w = stderr
				}
				if timestamps {
					w.WriteString(en.Time.UTC().Format(time.RFC3339Nano))
					w.WriteByte(' ')
				}
				w.Write(en.Line)
				if follow {
					w.Flush()
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "follow log output")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	f.StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end of the logs")
	f.StringVar(&sinceArg, "since", "", "show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m)")
	f.StringVar(&untilArg, "until", "", "show logs before a timestamp or relative (42m)")
	return cmd
}

// parseTimeArg reads Docker's --since/--until: an RFC 3339 time, a date,
// Unix seconds (with fraction), or a duration before now.
func parseTimeArg(s, flag string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	return time.Time{}, errdefs.InvalidArgument("invalid argument %q for %q flag: want a timestamp (2006-01-02T15:04:05Z), a date, Unix seconds or a duration (10m)", s, flag)
}
