package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network/bridge"
	"hutch.dev/hutch/network/nat"
	"hutch.dev/hutch/network/netns"
)

// AttachRequest asks for a container's network namespace to be plugged
// into a network.
type AttachRequest struct {
	ContainerID   string
	ContainerName string
	// NetnsPath names the container's network namespace (a netns bind
	// mount or /proc/PID/ns/net).
	NetnsPath string
	// Network is a network's name or ID; "" is the default network.
	Network string
	// IP and IPv6 ask for those addresses (--ip, --ip6); IPAM picks
	// otherwise.
	IP   netip.Addr
	IPv6 netip.Addr
	// MAC of the container's interface (--mac-address); random otherwise.
	MAC     net.HardwareAddr
	Aliases []string
	// InterfaceName inside the container: eth0 for the first network,
	// eth1 for the next, and so on, unless given.
	InterfaceName string
	Ports         []PortMapping
}

// Attachment is one container on one network: what `inspect` and
// `hutch port` show, and all Detach needs to undo it.
type Attachment struct {
	ContainerID   string `json:"containerID"`
	ContainerName string `json:"containerName,omitempty"`
	Network       string `json:"network"`
	NetworkID     string `json:"networkID"`
	Netns         string `json:"netns"`
	// Interface is the name inside the container (eth0).
	Interface string `json:"interface"`
	// HostInterface is the veth's host end, a port of Bridge.
	HostInterface string `json:"hostInterface"`
	Bridge        string `json:"bridge"`
	MAC           string `json:"mac"`
	// IPv4 is the address with the subnet's prefix length (10.88.0.2/16).
	IPv4        netip.Prefix `json:"ipv4"`
	Gateway     netip.Addr   `json:"gateway,omitzero"`
	IPv6        netip.Prefix `json:"ipv6,omitzero"`
	IPv6Gateway netip.Addr   `json:"ipv6Gateway,omitzero"`
	Aliases     []string     `json:"aliases,omitempty"`
	// Ports are the published ports, with the host ports chosen for the
	// ones asked with HostPort 0.
	Ports []PortMapping `json:"ports,omitempty"`
	// RouteMetric is the metric of the default route: 100 on the first
	// network, then 101, 102... as Podman does, so that the first network
	// the container joined stays its way out.
	RouteMetric int `json:"routeMetric,omitempty"`
}

// describe names the container in errors: "web" (0123456789ab).
func (a *Attachment) describe() string {
	id := a.ContainerID
	if len(id) > 12 {
		id = id[:12]
	}
	if a.ContainerName == "" {
		return id
	}
	return fmt.Sprintf("%q (%s)", a.ContainerName, id)
}

// Attach plugs the container's namespace into the network: it creates the
// network's bridge and firewall rules on first use, a veth pair with an
// address from IPAM, a default route through the gateway (none on an
// internal network) and the DNAT rules of the published ports.
//
// Everything that can be refused (a taken address, port or interface name)
// is checked before anything is made, and the attachment is recorded
// before the kernel is touched, so that Detach can undo a half-made one
// after a crash. A failure undoes what was made.
func (m *Manager) Attach(ctx context.Context, req AttachRequest) (_ *Attachment, err error) {
	id := req.ContainerID
	if err := checkID(id); err != nil {
		return nil, err
	}
	if !netns.IsNetns(req.NetnsPath) {
		return nil, errdefs.InvalidArgument("container %s: %q is not a network namespace", id, req.NetnsPath)
	}
	ports, err := normalizePorts(req.Ports)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	if req.MAC != nil && (len(req.MAC) != 6 || req.MAC[0]&1 != 0) {
		return nil, errdefs.InvalidArgument("container %s: MAC address %s is not a unicast Ethernet address", id, req.MAC)
	}

	lk, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	n, err := m.lookup(req.Network)
	if err != nil {
		return nil, err
	}
	if n.Internal && len(ports) > 0 {
		return nil, errdefs.InvalidArgument("network %q is internal: no port can be published on it", n.Name)
	}
	all, err := m.allLeases()
	if err != nil {
		return nil, err
	}
	l, ok := all[n.ID]
	if !ok {
		if l, err = m.loadLeases(n); err != nil {
			return nil, err
		}
	}
	if _, ok := l.Attachments[id]; ok {
		return nil, errdefs.AlreadyExists("container %s is already attached to network %q", id, n.Name)
	}
	att := &Attachment{
		ContainerID:   id,
		ContainerName: req.ContainerName,
		Network:       n.Name,
		NetworkID:     n.ID,
		Netns:         req.NetnsPath,
		Bridge:        n.Bridge,
		Aliases:       req.Aliases,
	}
	if att.Interface, err = interfaceName(req.InterfaceName, id, all); err != nil {
		return nil, err
	}
	att.RouteMetric = routeMetric(id, all)
	att.HostInterface = vethName(id, all)
	if att.Ports, err = resolvePorts(ports, all); err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	if err := m.assignAddresses(att, n, l, req); err != nil {
		return nil, err
	}
	mac := req.MAC
	if mac == nil {
		mac = bridge.RandomMAC()
	}
	att.MAC = mac.String()

	l.Attachments[id] = att
	if err := l.save(); err != nil {
		return nil, fmt.Errorf("container %s: network %q: %w", id, n.Name, err)
	}
	defer func() {
		if err != nil {
			m.undo(att)
			delete(l.Attachments, id)
			if serr := l.save(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	if err := m.plug(ctx, n, att, mac); err != nil {
		return nil, fmt.Errorf("container %s: network %q: %w", id, n.Name, err)
	}
	m.log.Debug("attached", "container", id, "network", n.Name, "bridge", n.Bridge,
		"veth", att.HostInterface, "ipv4", att.IPv4, "ports", len(att.Ports))
	c := *att
	return &c, nil
}

// assignAddresses gives att its addresses, asked for or picked by IPAM.
func (m *Manager) assignAddresses(att *Attachment, n *Network, l *leases, req AttachRequest) error {
	s4 := n.subnet4()
	if s4 == nil {
		return fmt.Errorf("network %q: no IPv4 subnet", n.Name)
	}
	var a netip.Addr
	var err error
	if req.IP.IsValid() {
		a, err = req.IP.Unmap(), l.reserve(n, s4, req.IP)
	} else {
		a, err = l.allocate(n, s4)
	}
	if err != nil {
		return err
	}
	att.IPv4 = netip.PrefixFrom(a, s4.Subnet.Bits())
	if !n.Internal {
		att.Gateway = s4.Gateway
	}
	s6 := n.subnet6()
	if s6 == nil {
		if req.IPv6.IsValid() {
			return errdefs.InvalidArgument("network %q has no IPv6 subnet for address %s", n.Name, req.IPv6)
		}
		return nil
	}
	if req.IPv6.IsValid() {
		a, err = req.IPv6, l.reserve(n, s6, req.IPv6)
	} else {
		a, err = l.allocate(n, s6)
	}
	if err != nil {
		return err
	}
	att.IPv6 = netip.PrefixFrom(a, s6.Subnet.Bits())
	if !n.Internal {
		att.IPv6Gateway = s6.Gateway
	}
	return nil
}

// plug makes the kernel objects of an attachment. The bridge and the
// network's rules are made once and then left for the next container: they
// go with the network (Remove), not with its last container.
func (m *Manager) plug(ctx context.Context, n *Network, att *Attachment, mac net.HardwareAddr) error {
	mtu, err := bridge.Ensure(bridge.Config{Name: n.Bridge, MTU: n.MTU, Addrs: n.gatewayPrefixes()})
	if err != nil {
		return err
	}
	if !n.Internal {
		if err := bridge.EnableForwarding(n.IPv6()); err != nil {
			return err
		}
	}
	if err := m.fw.AddNetwork(m.natNetwork(n)); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	v := bridge.Veth{
		HostName: att.HostInterface,
		Bridge:   n.Bridge,
		Netns:    att.Netns,
		Name:     att.Interface,
		MAC:      mac,
		MTU:      mtu,
		Addrs:    []netip.Prefix{att.IPv4},
		Metric:   att.RouteMetric,
	}
	if att.IPv6.IsValid() {
		v.Addrs = append(v.Addrs, att.IPv6)
	}
	for _, gw := range []netip.Addr{att.Gateway, att.IPv6Gateway} {
		if gw.IsValid() {
			v.Gateways = append(v.Gateways, gw)
		}
	}
	if err := bridge.AddVeth(v); err != nil {
		return err
	}
	var ports []nat.Port
	for _, p := range att.Ports {
		ports = append(ports, p.natPort(att.IPv4.Addr()))
	}
	return m.fw.AddPorts(att.ContainerID, n.Bridge, ports)
}

func (m *Manager) natNetwork(n *Network) nat.Network {
	nn := nat.Network{Bridge: n.Bridge, Internal: n.Internal}
	for _, s := range n.Subnets {
		nn.Subnets = append(nn.Subnets, s.Subnet)
	}
	return nn
}

// undo removes the kernel objects of one attachment: its veth (the kernel
// deletes the peer with it) and its port rules. Missing ones are fine.
func (m *Manager) undo(att *Attachment) error {
	return errors.Join(
		bridge.DeleteVeth(att.HostInterface),
		m.fw.RemovePorts(att.ContainerID, att.Bridge),
	)
}

// Detach unplugs the container from every network it is attached to:
// veths, port rules and leases. It works from the records alone (the
// namespace may be gone already), and does nothing for a container that is
// attached nowhere, so it may be called again, after a crash too.
func (m *Manager) Detach(ctx context.Context, containerID string) error {
	return m.detach(ctx, containerID, "")
}

// Disconnect unplugs the container from one network only (`network
// disconnect`).
func (m *Manager) Disconnect(ctx context.Context, containerID, network string) error {
	if network == "" {
		network = DefaultNetwork
	}
	return m.detach(ctx, containerID, network)
}

func (m *Manager) detach(ctx context.Context, id, network string) error {
	if err := checkID(id); err != nil {
		return err
	}
	networkID := ""
	if network != "" {
		if n, err := m.lookup(network); err == nil {
			networkID = n.ID
		}
	}
	mine := func(att *Attachment) bool {
		return network == "" || att.Network == network || att.NetworkID == networkID
	}
	// Deleting a veth waits for the kernel's RCU grace periods (tens of
	// milliseconds here), so it is done before taking the lock, from
	// what the records say: parallel Detaches then wait for each other
	// only for the records and the rules. The veths are deleted again
	// (at no cost when gone) under the lock in undo.
	if all, err := m.allLeases(); err == nil {
		for _, l := range all {
			if att, ok := l.Attachments[id]; ok && mine(att) {
				bridge.DeleteVeth(att.HostInterface)
			}
		}
	}

	lk, err := m.lock()
	if err != nil {
		return err
	}
	defer lk.Unlock()
	all, err := m.allLeases()
	if err != nil {
		return err
	}
	found := false
	var errs error
	for _, l := range all {
		att, ok := l.Attachments[id]
		if !ok || !mine(att) {
			continue
		}
		found = true
		if err := m.undo(att); err != nil {
			// The record stays, so that Detach can try again.
			errs = errors.Join(errs, fmt.Errorf("container %s: network %q: %w", id, att.Network, err))
			continue
		}
		delete(l.Attachments, id)
		if err := l.save(); err != nil {
			errs = errors.Join(errs, fmt.Errorf("container %s: network %q: %w", id, att.Network, err))
		}
		m.log.Debug("detached", "container", id, "network", att.Network, "veth", att.HostInterface)
	}
	if network == "" {
		// Port rules whose record was lost (a crash between the rules and
		// the record cannot happen, the record comes first, but a record
		// deleted by hand can): the tag says whose they are.
		errs = errors.Join(errs, m.fw.RemovePorts(id, ""))
	} else if !found && errs == nil {
		return errdefs.NotFound("container %s is not attached to network %q", id, network)
	}
	return errs
}

// Attachments returns the container's attachments, one per network.
func (m *Manager) Attachments(containerID string) ([]*Attachment, error) {
	all, err := m.allLeases()
	if err != nil {
		return nil, err
	}
	var out []*Attachment
	for _, l := range all {
		if att, ok := l.Attachments[containerID]; ok {
			out = append(out, att)
		}
	}
	sortAttachments(out)
	return out, nil
}

// Containers returns the attachments of the network called name.
func (m *Manager) Containers(name string) ([]*Attachment, error) {
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	l, err := m.loadLeases(n)
	if err != nil {
		return nil, err
	}
	var out []*Attachment
	for _, att := range l.Attachments {
		out = append(out, att)
	}
	sortAttachments(out)
	return out, nil
}

// checkID refuses container IDs that could not be part of a rule's comment
// (at most 255 bytes with its tag) or of a log line.
func checkID(id string) error {
	if id == "" {
		return errdefs.InvalidArgument("no container ID")
	}
	if len(id) > 128 || strings.ContainsAny(id, " \t\n/") {
		return errdefs.InvalidArgument("container ID %q: at most 128 characters, no spaces or slashes", id)
	}
	return nil
}

// interfaceName checks the name asked for, or picks the first ethN that the
// container does not use yet.
func interfaceName(want, id string, all map[string]*leases) (string, error) {
	used := map[string]bool{}
	for _, l := range all {
		if att, ok := l.Attachments[id]; ok {
			used[att.Interface] = true
		}
	}
	if want != "" {
		if len(want) > 15 || strings.ContainsAny(want, "/: \t\n") || want == "." || want == ".." {
			return "", errdefs.InvalidArgument("container %s: %q is not a valid interface name", id, want)
		}
		if used[want] {
			return "", errdefs.Conflict("container %s: interface %s is already in use", id, want)
		}
		return want, nil
	}
	for i := 0; ; i++ {
		if name := fmt.Sprintf("eth%d", i); !used[name] {
			return name, nil
		}
	}
}

// routeMetric is the first metric from 100 up that none of the container's
// other attachments uses.
func routeMetric(id string, all map[string]*leases) int {
	used := map[int]bool{}
	for _, l := range all {
		if att, ok := l.Attachments[id]; ok {
			used[att.RouteMetric] = true
		}
	}
	m := 100
	for used[m] {
		m++
	}
	return m
}

// vethName names the host end of a container's veth: "hv", 11 characters
// of the container ID (so `ip link` shows whose it is), and a number that
// tells a container's networks apart, 15 characters in all (IFNAMSIZ-1).
// Names held by a record or present in the kernel are skipped.
func vethName(id string, all map[string]*leases) string {
	base := strings.ToLower(id)
	if len(base) < 11 || strings.Trim(base, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		sum := sha256.Sum256([]byte(id))
		base = hex.EncodeToString(sum[:])
	}
	held := map[string]bool{}
	for _, l := range all {
		for _, att := range l.Attachments {
			held[att.HostInterface] = true
		}
	}
	for i := 0; ; i++ {
		name := fmt.Sprintf("hv%s%02x", base[:11], i&0xff)
		if (!held[name] && !bridge.Exists(name)) || i > 0xff {
			return name
		}
	}
}

// sortAttachments orders attachments by network, then container name and
// ID, so that listings are stable.
func sortAttachments(atts []*Attachment) {
	sort.Slice(atts, func(i, j int) bool {
		a, b := atts[i], atts[j]
		if a.Network != b.Network {
			return a.Network < b.Network
		}
		if a.ContainerName != b.ContainerName {
			return a.ContainerName < b.ContainerName
		}
		return a.ContainerID < b.ContainerID
	})
}
