package main

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/errdefs"
)

func init() { moreContainerCommands = append(moreContainerCommands, portCommand) }

// portCommand is `hutch port CONTAINER [PRIVATE_PORT[/PROTO]]`, printed as
// Docker prints it: "80/tcp -> 0.0.0.0:32768" for each binding, or only
// the host side for one port.
func portCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.engine().Inspect(args[0])
			if err != nil {
				return err
			}
			var ports map[string][]engineBinding
			if c.NetworkSettings != nil {
				ports = map[string][]engineBinding{}
				for k, bs := range c.NetworkSettings.Ports {
					for _, b := range bs {
						ports[k] = append(ports[k], engineBinding{b.HostIP, b.HostPort})
					}
				}
			}
			out := cmd.OutOrStdout()
			if len(args) == 2 {
				key, err := portKey(args[1])
				if err != nil {
					return err
				}
				bs := ports[key]
				if len(bs) == 0 {
					return &cli.ExitCodeError{Code: 1, Err: errdefs.NotFound("no public port '%s' published for %s", key, args[0])}
				}
				for _, b := range bs {
					fmt.Fprintln(out, b)
				}
				return nil
			}
			keys := make([]string, 0, len(ports))
			for k := range ports {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return portLess(keys[i], keys[j]) })
			for _, k := range keys {
				for _, b := range ports[k] {
					fmt.Fprintf(out, "%s -> %s\n", k, b)
				}
			}
			return nil
		},
	}
}

type engineBinding struct{ ip, port string }

func (b engineBinding) String() string {
	ip := b.ip
	if ip == "" {
		ip = "0.0.0.0"
	}
	return net.JoinHostPort(ip, b.port)
}

// portKey reads PORT[/PROTO] as the "80/tcp" key of NetworkSettings.Ports.
func portKey(s string) (string, error) {
	port, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return "", errdefs.InvalidArgument("port %q: want PORT[/PROTO] with a port from 1 to 65535", s)
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return "", errdefs.InvalidArgument("port %q: protocol is tcp, udp or sctp", s)
	}
	return strconv.Itoa(n) + "/" + proto, nil
}

// portLess orders "80/tcp" keys by number, then protocol.
func portLess(a, b string) bool {
	pa, qa, _ := strings.Cut(a, "/")
	pb, qb, _ := strings.Cut(b, "/")
	na, _ := strconv.Atoi(pa)
	nb, _ := strconv.Atoi(pb)
	if na != nb {
		return na < nb
	}
	return qa < qb
}
