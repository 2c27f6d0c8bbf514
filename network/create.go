package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network/bridge"
	"hutch.dev/hutch/store"
)

// CreateOptions are the settings of `network create`.
type CreateOptions struct {
	Name string
	// Driver must be "bridge" or "".
	Driver string
	// Subnet is the IPv4 subnet; the zero value picks the first free /24
	// of the subnet pool.
	Subnet netip.Prefix
	// Gateway defaults to the subnet's first address.
	Gateway netip.Addr
	// IPRange limits the addresses IPAM hands out to part of Subnet.
	IPRange netip.Prefix
	// IPv6Subnet makes the network dual-stack; IPv6Gateway defaults to its
	// first address.
	IPv6Subnet  netip.Prefix
	IPv6Gateway netip.Addr
	// Internal networks have no route out, no masquerade and no published
	// ports.
	Internal bool
	Labels   map[string]string
	// MTU of the bridge and the veths; 0 takes the host's default route's.
	MTU int
	// Bridge names the Linux bridge; hutch-SHORTID when empty.
	Bridge string
}

// Create records a new network. Its bridge and rules are made by the first
// Attach, so that a network nobody uses costs nothing in the kernel.
func (m *Manager) Create(opts CreateOptions) (*Network, error) {
	name := opts.Name
	if !validName.MatchString(name) || len(name) > 128 {
		return nil, errdefs.InvalidArgument("network %q: invalid name: use letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	if reservedNames[name] || name == DefaultNetwork {
		return nil, errdefs.InvalidArgument("network %q: the name is reserved", name)
	}
	if opts.Driver != "" && opts.Driver != "bridge" {
		return nil, errdefs.NotImplemented("network %q: driver %q is not supported (only bridge)", name, opts.Driver)
	}
	if opts.MTU != 0 && (opts.MTU < 68 || opts.MTU > 65535) {
		return nil, errdefs.InvalidArgument("network %q: MTU %d is out of range 68-65535", name, opts.MTU)
	}

	lk, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()

	existing, err := m.list()
	if err != nil {
		return nil, err
	}
	for _, o := range existing {
		if o.Name == name {
			return nil, errdefs.AlreadyExists("network %q already exists", name)
		}
	}
	n := &Network{
		Name:     name,
		ID:       newID(),
		Driver:   "bridge",
		Bridge:   opts.Bridge,
		Internal: opts.Internal,
		MTU:      opts.MTU,
		Labels:   opts.Labels,
		Created:  time.Now().UTC(),
	}
	if n.Bridge == "" {
		n.Bridge = "hutch-" + n.ID[:9]
	}
	if err := checkBridgeName(n, existing); err != nil {
		return nil, err
	}
	routes, err := m.foreignRoutes(existing)
	if err != nil {
		return nil, err
	}
	s4, err := m.subnet(n, existing, routes, opts.Subnet, opts.Gateway, opts.IPRange, false)
	if err != nil {
		return nil, err
	}
	n.Subnets = []Subnet{s4}
	if opts.IPv6Subnet.IsValid() {
		s6, err := m.subnet(n, existing, routes, opts.IPv6Subnet, opts.IPv6Gateway, netip.Prefix{}, true)
		if err != nil {
			return nil, err
		}
		n.Subnets = append(n.Subnets, s6)
	} else if opts.IPv6Gateway.IsValid() {
		return nil, errdefs.InvalidArgument("network %q: IPv6 gateway %s without an IPv6 subnet", name, opts.IPv6Gateway)
	}
	if err := store.WriteJSON(m.recordPath(name), n); err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}
	m.log.Debug("network created", "network", name, "bridge", n.Bridge, "subnets", n.Subnets)
	return n, nil
}

func checkBridgeName(n *Network, existing []*Network) error {
	if len(n.Bridge) > 15 || !validName.MatchString(n.Bridge) {
		return errdefs.InvalidArgument("network %q: bridge name %q is not a valid interface name (at most 15 characters)", n.Name, n.Bridge)
	}
	for _, o := range existing {
		if o.Bridge == n.Bridge {
			return errdefs.Conflict("network %q: bridge %s is already used by network %q", n.Name, n.Bridge, o.Name)
		}
	}
	if bridge.Exists(n.Bridge) {
		return errdefs.Conflict("network %q: an interface named %s already exists on the host", n.Name, n.Bridge)
	}
	return nil
}

// foreignRoutes are the host's routes that go through none of our bridges.
func (m *Manager) foreignRoutes(existing []*Network) ([]bridge.Route, error) {
	all, err := bridge.HostRoutes()
	if err != nil {
		return nil, fmt.Errorf("networks: list host routes: %w", err)
	}
	ours := map[string]bool{}
	for _, o := range existing {
		ours[o.Bridge] = true
	}
	var out []bridge.Route
	for _, r := range all {
		if !ours[r.Dev] {
			out = append(out, r)
		}
	}
	return out, nil
}

// subnet checks (or, for IPv4 without one, picks) a subnet and its gateway.
func (m *Manager) subnet(n *Network, existing []*Network, routes []bridge.Route, p netip.Prefix, gw netip.Addr, ipRange netip.Prefix, v6 bool) (Subnet, error) {
	family := "IPv4"
	if v6 {
		family = "IPv6"
	}
	if !p.IsValid() {
		var err error
		if p, err = m.freeSubnet(n, existing, routes); err != nil {
			return Subnet{}, err
		}
	}
	if p.Addr().Is4() == v6 || p.Addr().Is4In6() {
		return Subnet{}, errdefs.InvalidArgument("network %q: %s is not an %s subnet", n.Name, p, family)
	}
	if p != p.Masked() {
		return Subnet{}, errdefs.InvalidArgument("network %q: subnet %s has host bits set (did you mean %s?)", n.Name, p, p.Masked())
	}
	if p.Addr().BitLen()-p.Bits() < 2 {
		return Subnet{}, errdefs.InvalidArgument("network %q: subnet %s is too small", n.Name, p)
	}
	if err := overlapCheck(n, p, existing, routes); err != nil {
		return Subnet{}, err
	}
	s := Subnet{Subnet: p, Gateway: gw, IPRange: ipRange}
	if !gw.IsValid() {
		s.Gateway = p.Addr().Next()
	} else if s.Gateway = gw.Unmap(); !usable(&Subnet{Subnet: p}, s.Gateway) {
		return Subnet{}, errdefs.InvalidArgument("network %q: gateway %s is not a host address of subnet %s", n.Name, gw, p)
	}
	if ipRange.IsValid() {
		if ipRange != ipRange.Masked() || !p.Contains(ipRange.Addr()) || ipRange.Bits() < p.Bits() {
			return Subnet{}, errdefs.InvalidArgument("network %q: IP range %s is not a part of subnet %s", n.Name, ipRange, p)
		}
	}
	return s, nil
}

func overlapCheck(n *Network, p netip.Prefix, existing []*Network, routes []bridge.Route) error {
	for _, o := range existing {
		for _, s := range o.Subnets {
			if s.Subnet.Overlaps(p) {
				return errdefs.Conflict("network %q: subnet %s overlaps network %q (%s)", n.Name, p, o.Name, s.Subnet)
			}
		}
	}
	for _, r := range routes {
		if r.Dst.Overlaps(p) {
			return errdefs.Conflict("network %q: subnet %s overlaps the host's route to %s on %s", n.Name, p, r.Dst, r.Dev)
		}
	}
	return nil
}

// freeSubnet picks the first /24 of the pool that overlaps no network and
// no host route.
func (m *Manager) freeSubnet(n *Network, existing []*Network, routes []bridge.Route) (netip.Prefix, error) {
	bits := 24
	if m.pool.Bits() > bits {
		bits = m.pool.Bits()
	}
	for a := m.pool.Addr(); m.pool.Contains(a); {
		p := netip.PrefixFrom(a, bits)
		if overlapCheck(n, p, existing, routes) == nil {
			return p, nil
		}
		next := lastAddr(p).Next()
		if !next.IsValid() {
			break
		}
		a = next
	}
	return netip.Prefix{}, errdefs.FailedPrecondition("network %q: no free subnet left in %s: give one with --subnet", n.Name, m.pool)
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Remove deletes a network: its firewall rules, its bridge and its record.
// A network with containers attached is refused, as is the default one.
func (m *Manager) Remove(name string) error {
	lk, err := m.lock()
	if err != nil {
		return err
	}
	defer lk.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return err
	}
	return m.remove(n)
}

func (m *Manager) remove(n *Network) error {
	if n.Default {
		return errdefs.FailedPrecondition("network %q is the default network and cannot be removed", n.Name)
	}
	l, err := m.loadLeases(n)
	if err != nil {
		return err
	}
	if len(l.Attachments) > 0 {
		atts := make([]*Attachment, 0, len(l.Attachments))
		for _, a := range l.Attachments {
			atts = append(atts, a)
		}
		sortAttachments(atts)
		more := ""
		if len(atts) > 1 {
			more = fmt.Sprintf(" and %d more", len(atts)-1)
		}
		return errdefs.Conflict("network %q is in use by container %s%s", n.Name, atts[0].describe(), more)
	}
	if err := m.fw.RemoveNetwork(n.Bridge); err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	if err := bridge.Delete(n.Bridge); err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	if err := os.Remove(m.recordPath(n.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	m.log.Debug("network removed", "network", n.Name, "bridge", n.Bridge)
	return nil
}

// Prune removes every user-defined network that no container uses, and
// returns their names.
func (m *Manager) Prune(ctx context.Context) ([]string, error) {
	lk, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	all, err := m.list()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range all {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if n.Default {
			continue
		}
		l, err := m.loadLeases(n)
		if err != nil {
			return removed, err
		}
		if len(l.Attachments) > 0 {
			continue
		}
		if err := m.remove(n); err != nil {
			return removed, err
		}
		removed = append(removed, n.Name)
	}
	return removed, nil
}
