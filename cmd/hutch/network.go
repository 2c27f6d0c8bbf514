package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cmd/internal/cli"
	"hutch.dev/hutch/engine"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/internal/runflags"
	"hutch.dev/hutch/network"
)

func init() { moreTopCommands = append(moreTopCommands, networkCommand, dnsServerCommand) }

// networkCommand is `hutch network create|ls|inspect|rm|prune|connect|disconnect`.
func networkCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks"}
	cmd.AddCommand(networkCreateCommand(g), networkLsCommand(g), networkInspectCommand(g), networkRmCommand(g),
		networkPruneCommand(g), networkConnectCommand(g), networkDisconnectCommand(g))
	return cmd
}

// The networks Docker shows besides the bridge ones: they are network
// modes, with no record, and cannot be created or removed.
var pseudoNetworks = map[string]string{"host": "host", "none": "null"}

func pseudoID(name string) string {
	sum := sha256.Sum256([]byte("hutch network " + name))
	return hex.EncodeToString(sum[:])
}

func networkCreateCommand(g *globals) *cobra.Command {
	var subnets, gateways, ranges, labels, opts []string
	var driver string
	var internal, ipv6, attachable bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := network.CreateOptions{Name: args[0], Driver: driver, Internal: internal}
			var err error
			if o.Labels, err = runflags.ParseLabels(labels); err != nil {
				return err
			}
			if err := parseNetworkAddrs(&o, subnets, gateways, ranges); err != nil {
				return err
			}
			if ipv6 && !o.IPv6Subnet.IsValid() {
				return errdefs.NotImplemented("--ipv6 needs an IPv6 --subnet (fd00::/64): subnets are not picked for IPv6 yet")
			}
			for _, kv := range opts {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return errdefs.InvalidArgument("-o %q: want KEY=VALUE", kv)
				}
				switch k {
				case "mtu", "com.docker.network.driver.mtu":
					if o.MTU, err = strconv.Atoi(v); err != nil {
						return errdefs.InvalidArgument("-o %s: %q is not a number", k, v)
					}
				case "com.docker.network.bridge.name":
					o.Bridge = v
				default:
					return errdefs.InvalidArgument("-o %q: unknown option (want mtu= or com.docker.network.bridge.name=)", kv)
				}
			}
			nm, err := g.engine().Networks()
			if err != nil {
				return err
			}
			n, err := nm.Create(o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "bridge", "driver (bridge only)")
	cli.ListVarP(f, &subnets, "subnet", "", "subnet in CIDR form (one IPv4, one IPv6)")
	cli.ListVarP(f, &gateways, "gateway", "", "gateway of the subnet of the same family")
	cli.ListVarP(f, &ranges, "ip-range", "", "allocate container addresses from this part of the IPv4 subnet")
	f.BoolVar(&internal, "internal", false, "no route out of the network, no published ports")
	f.BoolVar(&ipv6, "ipv6", false, "dual stack: with an IPv6 --subnet")
	f.BoolVar(&attachable, "attachable", false, "accepted for Docker's sake (every network is)")
	cli.ListVarP(f, &labels, "label", "", "set metadata on the network (KEY=VALUE)")
	cli.ListVarP(f, &opts, "opt", "o", "driver options: mtu=N, com.docker.network.bridge.name=NAME")
	return cmd
}

// parseNetworkAddrs sorts --subnet, --gateway and --ip-range by family.
func parseNetworkAddrs(o *network.CreateOptions, subnets, gateways, ranges []string) error {
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return errdefs.InvalidArgument("--subnet %q: %v", s, err)
		}
		slot := &o.Subnet
		if p.Addr().Is6() {
			slot = &o.IPv6Subnet
		}
		if slot.IsValid() {
			return errdefs.InvalidArgument("--subnet %q: one subnet per address family", s)
		}
		*slot = p
	}
	for _, s := range gateways {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return errdefs.InvalidArgument("--gateway %q: %v", s, err)
		}
		slot, sub := &o.Gateway, o.Subnet
		if a.Is6() {
			slot, sub = &o.IPv6Gateway, o.IPv6Subnet
		}
		if !sub.IsValid() {
			return errdefs.InvalidArgument("--gateway %q: no --subnet of its family", s)
		}
		*slot = a
	}
	for _, s := range ranges {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return errdefs.InvalidArgument("--ip-range %q: %v", s, err)
		}
		if p.Addr().Is6() {
			return errdefs.NotImplemented("--ip-range %q: IPv6 ranges are not supported", s)
		}
		if !o.Subnet.IsValid() {
			return errdefs.InvalidArgument("--ip-range %q: needs an IPv4 --subnet", s)
		}
		o.IPRange = p
	}
	return nil
}

// networkDoc is `network inspect`'s document, Docker's shape.
type networkDoc struct {
	Name       string
	Id         string
	Created    string
	Scope      string
	Driver     string
	EnableIPv6 bool
	IPAM       ipamDoc
	Internal   bool
	Attachable bool
	Ingress    bool
	ConfigFrom struct{ Network string }
	ConfigOnly bool
	Containers map[string]endpointDoc
	Options    map[string]string
	Labels     map[string]string
}

type ipamDoc struct {
	Driver  string
	Options map[string]string
	Config  []ipamConfig
}

type ipamConfig struct {
	Subnet  string
	Gateway string
	IPRange string `json:",omitempty"`
}

type endpointDoc struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string
	IPv6Address string
}

// networkDocs returns the documents of every network: the bridge ones,
// then host and none, with their running containers.
func networkDocs(e *engine.Engine, nm *network.Manager) ([]networkDoc, error) {
	list, err := nm.List()
	if err != nil {
		return nil, err
	}
	var docs []networkDoc
	for _, n := range list {
		d, err := docOf(nm, n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	pseudo, err := pseudoDocs(e)
	if err != nil {
		return nil, err
	}
	return append(docs, pseudo...), nil
}

func docOf(nm *network.Manager, n *network.Network) (networkDoc, error) {
	d := networkDoc{
		Name: n.Name, Id: n.ID, Scope: "local", Driver: n.Driver, EnableIPv6: n.IPv6(),
		IPAM:       ipamDoc{Driver: "default", Config: []ipamConfig{}},
		Internal:   n.Internal,
		Containers: map[string]endpointDoc{},
		Options:    map[string]string{"com.docker.network.bridge.name": n.Bridge},
		Labels:     n.Labels,
	}
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	if !n.Created.IsZero() {
		d.Created = n.Created.Format(time.RFC3339Nano)
	}
	if n.MTU != 0 {
		d.Options["com.docker.network.driver.mtu"] = strconv.Itoa(n.MTU)
	}
	for _, s := range n.Subnets {
		c := ipamConfig{Subnet: s.Subnet.String(), Gateway: s.Gateway.String()}
		if s.IPRange.IsValid() {
			c.IPRange = s.IPRange.String()
		}
		d.IPAM.Config = append(d.IPAM.Config, c)
	}
	atts, err := nm.Containers(n.ID)
	if err != nil {
		return d, err
	}
	for _, a := range atts {
		ep := endpointDoc{Name: a.ContainerName, EndpointID: endpointID(a), MacAddress: a.MAC, IPv4Address: a.IPv4.String()}
		if a.IPv6.IsValid() {
			ep.IPv6Address = a.IPv6.String()
		}
		d.Containers[a.ContainerID] = ep
	}
	return d, nil
}

// endpointID is a stable ID for one container on one network.
func endpointID(a *network.Attachment) string {
	sum := sha256.Sum256([]byte(a.ContainerID + " " + a.NetworkID))
	return hex.EncodeToString(sum[:])
}

// pseudoDocs are host and none, with the running containers of those modes.
func pseudoDocs(e *engine.Engine) ([]networkDoc, error) {
	cs, err := e.List()
	if err != nil {
		return nil, err
	}
	var docs []networkDoc
	for _, name := range []string{"host", "none"} {
		d := networkDoc{Name: name, Id: pseudoID(name), Scope: "local", Driver: pseudoNetworks[name],
			IPAM: ipamDoc{Driver: "default", Config: []ipamConfig{}}, Containers: map[string]endpointDoc{},
			Options: map[string]string{}, Labels: map[string]string{}}
		for _, c := range cs {
			if c.HostConfig.NetworkMode == name && c.State.Running {
				d.Containers[c.ID] = endpointDoc{Name: c.Name, EndpointID: pseudoID(c.ID + name)}
			}
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// findDoc finds a network by name, ID or ID prefix among docs.
func findDoc(docs []networkDoc, ref string) (networkDoc, error) {
	for _, d := range docs {
		if d.Name == ref || d.Id == ref {
			return d, nil
		}
	}
	var found []networkDoc
	for _, d := range docs {
		if len(ref) >= 3 && strings.HasPrefix(d.Id, ref) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return networkDoc{}, errdefs.NotFound("network %q: not found", ref)
	}
	return networkDoc{}, errdefs.InvalidArgument("network %q: ambiguous ID prefix", ref)
}

func networkInspectCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			nm, err := e.Networks()
			if err != nil {
				return err
			}
			all, err := networkDocs(e, nm)
			if err != nil {
				return err
			}
			var docs []any
			var errs []error
			for _, ref := range args {
				d, err := findDoc(all, ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				docs = append(docs, d)
			}
			return printInspect(cmd, format, docs, errs)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template")
	return cmd
}

type networkRow struct {
	ID        string
	Name      string
	Driver    string
	Scope     string
	IPv6      string
	Internal  string
	Labels    string
	CreatedAt string
}

// networkFilter is one --filter of network ls and prune.
type networkFilter struct{ key, value string }

func parseNetworkFilters(list []string, allowed ...string) ([]networkFilter, error) {
	var out []networkFilter
	for _, f := range list {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, errdefs.InvalidArgument("--filter %q: want KEY=VALUE", f)
		}
		if !contains(allowed, k) {
			return nil, errdefs.InvalidArgument("--filter %q: unknown filter %q (want %s)", f, k, strings.Join(allowed, ", "))
		}
		switch k {
		case "type":
			if v != "custom" && v != "builtin" {
				return nil, errdefs.InvalidArgument("--filter %q: type is custom or builtin", f)
			}
		case "dangling":
			if _, err := strconv.ParseBool(v); err != nil {
				return nil, errdefs.InvalidArgument("--filter %q: dangling is true or false", f)
			}
		case "until":
			if _, err := untilTime(v); err != nil {
				return nil, errdefs.InvalidArgument("--filter %q: %v", f, err)
			}
		}
		out = append(out, networkFilter{k, v})
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// untilTime reads until= as a duration back from now or a timestamp.
func untilTime(v string) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration nor a timestamp", v)
}

// matchNetwork applies the filters: filters with the same key are ORed,
// different keys ANDed, as in Docker. inUse tells whether a container
// uses the network.
func matchNetwork(d networkDoc, created time.Time, fs []networkFilter, inUse func() bool) bool {
	byKey := map[string][]string{}
	for _, f := range fs {
		byKey[f.key] = append(byKey[f.key], f.value)
	}
	builtin := d.Name == network.DefaultNetwork || pseudoNetworks[d.Name] != ""
	for k, vs := range byKey {
		ok := false
		for _, v := range vs {
			switch k {
			case "name":
				ok = ok || strings.Contains(d.Name, v)
			case "id":
				ok = ok || strings.HasPrefix(d.Id, v)
			case "driver":
				ok = ok || d.Driver == v
			case "type":
				ok = ok || (v == "builtin") == builtin
			case "label":
				lk, lv, hasV := strings.Cut(v, "=")
				got, has := d.Labels[lk]
				ok = ok || (has && (!hasV || got == lv))
			case "label!":
				lk, lv, hasV := strings.Cut(v, "=")
				got, has := d.Labels[lk]
				ok = ok || !(has && (!hasV || got == lv))
			case "dangling":
				want, _ := strconv.ParseBool(v)
				ok = ok || (!builtin && want != inUse())
			case "until":
				t, _ := untilTime(v)
				ok = ok || (!created.IsZero() && created.Before(t))
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func networkLsCommand(g *globals) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, err := parseNetworkFilters(filters, "name", "id", "driver", "label", "type", "dangling")
			if err != nil {
				return err
			}
			e := g.engine()
			nm, err := e.Networks()
			if err != nil {
				return err
			}
			docs, err := networkDocs(e, nm)
			if err != nil {
				return err
			}
			sort.Slice(docs, func(i, j int) bool { return docs[i].Name < docs[j].Name })
			var rows []networkRow
			for _, d := range docs {
				created, _ := time.Parse(time.RFC3339Nano, d.Created)
				if !matchNetwork(d, created, fs, func() bool { return networkUsed(e, nm, d) }) {
					continue
				}
				id := d.Id
				if !noTrunc {
					id = engine.ShortID(id)
				}
				var ls []string
				for k, v := range d.Labels {
					ls = append(ls, k+"="+v)
				}
				sort.Strings(ls)
				row := networkRow{ID: id, Name: d.Name, Driver: d.Driver, Scope: d.Scope,
					IPv6: strconv.FormatBool(d.EnableIPv6), Internal: strconv.FormatBool(d.Internal),
					Labels: strings.Join(ls, ",")}
				if !created.IsZero() {
					row.CreatedAt = created.Local().Format("2006-01-02 15:04:05.999999999 -0700 MST")
				}
				rows = append(rows, row)
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, r := range rows {
					fmt.Fprintln(out, r.ID)
				}
				return nil
			}
			if format == "" {
				format = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
			}
			return printRows(out, format, rows, map[string]string{
				"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
				"Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display network IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	cmd.Flags().StringVar(&format, "format", "", "Go template")
	cli.ListVarP(cmd.Flags(), &filters, "filter", "f", "filter (name=, id=, driver=, label=, type=custom|builtin, dangling=)")
	return cmd
}

// networkUsed tells whether a container (running or not) uses the
// network of d.
func networkUsed(e *engine.Engine, nm *network.Manager, d networkDoc) bool {
	if len(d.Containers) > 0 {
		return true
	}
	n, err := nm.Inspect(d.Id)
	if err != nil {
		return false
	}
	users, err := e.NetworkUsers(n)
	return err != nil || len(users) > 0
}

func networkRmCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := g.engine()
			var errs []error
			for _, name := range args {
				var err error
				if pseudoNetworks[name] != "" || name == network.DefaultNetwork {
					err = errdefs.FailedPrecondition("%s is a pre-defined network and cannot be removed", name)
				} else {
					err = e.NetworkRemove(name)
				}
				if err != nil && !(force && errdefs.IsNotFound(err)) {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), name)
			}
			return lastOf(errs)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not fail on a missing network")
	return cmd
}

func networkPruneCommand(g *globals) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, err := parseNetworkFilters(filters, "label", "label!", "until")
			if err != nil {
				return err
			}
			if !force && !confirm("WARNING! This will remove all custom networks not used by at least one container.") {
				return nil
			}
			e := g.engine()
			nm, err := e.Networks()
			if err != nil {
				return err
			}
			removed, err := e.NetworkPrune(func(n *network.Network) bool {
				d, derr := docOf(nm, n)
				return derr != nil || !matchNetwork(d, n.Created, fs, func() bool { return true })
			})
			if len(removed) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "Deleted Networks:")
				for _, n := range removed {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cli.ListVarP(cmd.Flags(), &filters, "filter", "", "filter (label=, label!=, until=)")
	return cmd
}

func networkConnectCommand(g *globals) *cobra.Command {
	var o engine.ConnectOptions
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pseudoNetworks[args[0]] != "" {
				return errdefs.InvalidArgument("network %q is a network mode: containers cannot be connected to it", args[0])
			}
			return g.engine().NetworkConnect(context.Background(), args[0], args[1], o)
		},
	}
	cmd.Flags().StringVar(&o.IP, "ip", "", "IPv4 address on the network")
	cli.ListVarP(cmd.Flags(), &o.Aliases, "alias", "", "add a name for the container on the network")
	return cmd
}

func networkDisconnectCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pseudoNetworks[args[0]] != "" {
				return errdefs.InvalidArgument("network %q is a network mode: containers cannot be disconnected from it", args[0])
			}
			return g.engine().NetworkDisconnect(context.Background(), args[0], args[1], force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not fail when the container is not connected")
	return cmd
}

// dnsServerCommand is the hidden `hutch dns-server NETWORK`: the name
// server of a user-defined network, started by the engine (fd 3 is its
// sync pipe) and ended by itself when the network has no container left.
func dnsServerCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "dns-server NETWORK",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ready *os.File
			if _, err := unix.FcntlInt(3, unix.F_GETFD, 0); err == nil {
				ready = os.NewFile(3, "sync")
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
				level = slog.LevelWarn
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return g.engine().RunDNSServer(args[0], ready, log)
		},
	}
}

// addDNSFlags adds --dns, --dns-search, --dns-option and --add-host to
// create and run.
func (f *createFlags) addDNSFlags(fs *pflag.FlagSet) {
	cli.ListVarP(fs, &f.dns, "dns", "", "set custom DNS servers")
	cli.ListVarP(fs, &f.dnsSearch, "dns-search", "", "set custom DNS search domains (\".\" for none)")
	cli.ListVarP(fs, &f.dnsOptions, "dns-option", "", "set DNS options (ndots:2)")
	cli.ListVarP(fs, &f.addHosts, "add-host", "", "add a custom host-to-IP mapping (NAME:IP, IP may be host-gateway)")
}

// dnsFlags checks and records the DNS flags. A container that shares
// another's network namespace shares its files too, so they are refused
// there, as Docker does.
func (f *createFlags) dnsFlags(o *engine.CreateOptions) error {
	h := &o.HostConfig
	if strings.HasPrefix(h.NetworkMode, "container:") && len(f.dns)+len(f.dnsSearch)+len(f.dnsOptions)+len(f.addHosts) > 0 {
		return errdefs.InvalidArgument("--network %s: --dns, --dns-search, --dns-option and --add-host conflict with a shared network namespace", h.NetworkMode)
	}
	if err := engine.CheckDNSOptions(f.dns, f.addHosts); err != nil {
		return err
	}
	h.Dns, h.DnsSearch, h.DnsOptions, h.ExtraHosts = f.dns, f.dnsSearch, f.dnsOptions, f.addHosts
	return nil
}
