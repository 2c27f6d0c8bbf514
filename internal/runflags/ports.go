package runflags

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// PortMapping is one published port.
type PortMapping struct {
	HostIP        string // "" = all addresses; IPv6 without brackets
	HostPort      uint16 // 0 = an ephemeral port chosen at start
	HostPortEnd   uint16 // > HostPort: choose a free host port in [HostPort, HostPortEnd]
	ContainerPort uint16
	Protocol      string // tcp, udp or sctp
}

const publishFlag = "-p, --publish"

// ParsePortSpec parses a -p value as Docker (go-connections' nat
// ParsePortSpec) into one mapping per container port:
//
//	80                       container port 80, an ephemeral host port
//	8080:80                  host 8080 to container 80, all addresses
//	127.0.0.1:8080:80/udp    on one address, UDP
//	127.0.0.1::80            on one address, an ephemeral host port
//	[::1]:8080:80, ::1:8080:80   IPv6
//	8000-8010:80-90          ranges of equal length, pairwise
//	8000-8010:80             the first free host port in the range
//	published=8080,target=80,protocol=udp   the long form
func ParsePortSpec(s string) ([]PortMapping, error) {
	raw := s
	if strings.Contains(s, "=") {
		var err error
		if raw, err = longPortSpec(s); err != nil {
			return nil, bad(publishFlag, s, "%v", err)
		}
	}
	ip, hostPort, containerPort := splitPortParts(raw)

	proto := "tcp"
	if p, pr, ok := strings.Cut(containerPort, "/"); ok {
		containerPort = p
		if pr != "" {
			proto = strings.ToLower(pr)
		}
	}
	if strings.HasPrefix(ip, "[") {
		if !strings.HasSuffix(ip, "]") {
			return nil, bad(publishFlag, s, "invalid IP address: %s", ip)
		}
		ip = ip[1 : len(ip)-1]
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return nil, bad(publishFlag, s, "invalid IP address: %s", ip)
		}
	}
	if containerPort == "" {
		return nil, bad(publishFlag, s, "no port specified: %s<empty>", s)
	}
	cStart, cEnd, err := parsePortRange(containerPort)
	if err != nil || cStart == 0 {
		return nil, bad(publishFlag, s, "invalid containerPort: %s", containerPort)
	}
	var hStart, hEnd uint16
	if hostPort != "" {
		if hStart, hEnd, err = parsePortRange(hostPort); err != nil {
			return nil, bad(publishFlag, s, "invalid hostPort: %s", hostPort)
		}
		if cEnd != cStart && cEnd-cStart != hEnd-hStart {
			return nil, bad(publishFlag, s, "invalid ranges specified for container and host Ports: %s and %s", containerPort, hostPort)
		}
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, bad(publishFlag, s, "invalid proto: %s", proto)
	}

	count := int(cEnd-cStart) + 1
	out := make([]PortMapping, 0, count)
	for i := 0; i < count; i++ {
		m := PortMapping{HostIP: ip, ContainerPort: cStart + uint16(i), Protocol: proto}
		if hostPort != "" {
			m.HostPort = hStart + uint16(i)
			m.HostPortEnd = m.HostPort
			if count == 1 {
				m.HostPortEnd = hEnd
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// splitPortParts is nat's splitParts: the last two colon-separated fields
// are the ports, everything before them the address (so IPv6 works with or
// without brackets).
func splitPortParts(raw string) (ip, hostPort, containerPort string) {
	parts := strings.Split(raw, ":")
	switch n := len(parts); n {
	case 1:
		return "", "", parts[0]
	case 2:
		return "", parts[0], parts[1]
	default:
		return strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1]
	}
}

func parsePortRange(s string) (start, end uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	x, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	y, err := strconv.ParseUint(b, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	if y < x {
		return 0, 0, fmt.Errorf("invalid range specified for port: %s", s)
	}
	return uint16(x), uint16(y), nil
}

// longPortSpec turns the long form (published=,target=,protocol=,mode=)
// into the short one, as the docker CLI's convertToStandardNotation.
func longPortSpec(s string) (string, error) {
	params := map[string]string{"protocol": "tcp"}
	for _, p := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return "", fmt.Errorf("invalid publish opts format (should be name=value but got '%s')", p)
		}
		switch k {
		case "published", "target", "protocol", "mode":
		default:
			return "", fmt.Errorf("unknown publish option %q", k)
		}
		params[k] = v
	}
	if params["target"] == "" {
		return "", fmt.Errorf("target is required")
	}
	return fmt.Sprintf("%s:%s/%s", params["published"], params["target"], params["protocol"]), nil
}

// AddHost is an --add-host value: a line of the container's /etc/hosts.
type AddHost struct {
	Host string
	IP   string // an address as given (brackets removed), or "host-gateway"
}

// HostGateway is the special --add-host address that stands for the host.
const HostGateway = "host-gateway"

// ParseAddHost parses --add-host as Docker's ValidateExtraHost: "name:ip"
// or "name=ip" (the latter lets an IPv6 address stand unbracketed);
// "name:[::1]"; "name:host-gateway". The address keeps its written form.
func ParseAddHost(s string) (AddHost, error) {
	const flag = "--add-host"
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		k, v, ok = strings.Cut(s, ":")
	}
	if !ok || k == "" || strings.Contains(k, ":") {
		return AddHost{}, bad(flag, s, "bad format for add-host: %q", s)
	}
	if v != HostGateway {
		if len(v) > 2 && v[0] == '[' && v[len(v)-1] == ']' {
			v = v[1 : len(v)-1]
		}
		if _, err := netip.ParseAddr(v); err != nil {
			return AddHost{}, bad(flag, s, "invalid IP address in add-host: %q", v)
		}
	}
	return AddHost{Host: k, IP: v}, nil
}
