package tcp

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// A business card is the comma-separated list of "ip:port" candidates a peer
// dials in order. IPv6 hosts are bracketed by net.JoinHostPort, so commas
// never appear inside one.

func formatCard(addrs []string) string { return strings.Join(addrs, ",") }

// parseCard splits a business card into its candidates, checking that each
// is a host:port with a numeric port.
func parseCard(card string) ([]string, error) {
	if strings.TrimSpace(card) == "" {
		return nil, errors.New("empty tcp address")
	}
	parts := strings.Split(card, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		host, port, err := net.SplitHostPort(p)
		if err != nil {
			return nil, fmt.Errorf("tcp address %q: candidate %q: %w", card, p, err)
		}
		if host == "" {
			return nil, fmt.Errorf("tcp address %q: candidate %q has no host", card, p)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("tcp address %q: candidate %q: bad port %q", card, p, port)
		}
		parts[i] = p
	}
	return parts, nil
}

// parsePortRange reads "LO-HI" (or a single port); "" means any port, which
// is returned as 0, 0.
func parsePortRange(s string) (lo, hi int, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("port range %q: want LO-HI with 1 <= LO <= HI <= 65535", s)
	}
	return lo, hi, nil
}

// netIface is what selection needs of a network interface; tests supply
// their own lists.
type netIface struct {
	Name     string
	Up       bool
	Loopback bool
	Addrs    []net.IP
}

func systemIfaces() ([]netIface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	out := make([]netIface, 0, len(ifs))
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of interface %s: %w", ifc.Name, err)
		}
		ni := netIface{Name: ifc.Name, Up: ifc.Flags&net.FlagUp != 0, Loopback: ifc.Flags&net.FlagLoopback != 0}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ni.Addrs = append(ni.Addrs, ipn.IP)
			}
		}
		out = append(out, ni)
	}
	return out, nil
}

// selection is the outcome of choosing where to listen and what to publish.
type selection struct {
	Iface  string   // interface name, or "" for automatic (all interfaces)
	Listen net.IP   // address to bind; nil binds every address
	IPs    []net.IP // candidates to publish, in dial order
}

// selectAddrs picks the listening address and the candidates to publish.
// spec is an interface name, a CIDR, or "" for automatic: every up IPv4
// interface's addresses, non-loopback first, then 127.0.0.1.
func selectAddrs(spec string, ifs []netIface) (selection, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		var nonLoop []net.IP
		for _, ifc := range ifs {
			if !ifc.Up || ifc.Loopback {
				continue
			}
			for _, ip := range ifc.Addrs {
				if ip4 := ip.To4(); ip4 != nil && !ip4.IsLoopback() && !ip4.IsLinkLocalUnicast() {
					nonLoop = append(nonLoop, ip4)
				}
			}
		}
		return selection{IPs: append(nonLoop, net.IPv4(127, 0, 0, 1).To4())}, nil
	}
	if _, cidr, err := net.ParseCIDR(spec); err == nil {
		for _, ifc := range ifs {
			if !ifc.Up {
				continue
			}
			for _, ip := range ifc.Addrs {
				if cidr.Contains(ip) {
					return selection{Iface: ifc.Name, Listen: ip, IPs: []net.IP{ip}}, nil
				}
			}
		}
		return selection{}, fmt.Errorf("no up interface has an address in %s (%s)", spec, describeIfaces(ifs))
	}
	for _, ifc := range ifs {
		if ifc.Name != spec {
			continue
		}
		if !ifc.Up {
			return selection{}, fmt.Errorf("interface %s is down", spec)
		}
		// IPv4 first: it is what every peer on a cluster network can reach.
		var v4, v6 []net.IP
		for _, ip := range ifc.Addrs {
			switch {
			case ip.To4() != nil:
				v4 = append(v4, ip.To4())
			case !ip.IsLinkLocalUnicast():
				v6 = append(v6, ip)
			}
		}
		ips := append(v4, v6...)
		if len(ips) == 0 {
			return selection{}, fmt.Errorf("interface %s has no usable address", spec)
		}
		return selection{Iface: spec, Listen: ips[0], IPs: ips[:1]}, nil
	}
	return selection{}, fmt.Errorf("no interface named %s (%s)", spec, describeIfaces(ifs))
}

// loopbackSelection is where the ranks of a job on one node listen: on
// 127.0.0.1 only, which no other machine reaches.
func loopbackSelection() selection {
	lo := net.IPv4(127, 0, 0, 1).To4()
	return selection{Listen: lo, IPs: []net.IP{lo}}
}

func describeIfaces(ifs []netIface) string {
	names := make([]string, 0, len(ifs))
	for _, ifc := range ifs {
		names = append(names, ifc.Name)
	}
	return "interfaces: " + strings.Join(names, ", ")
}

// Describe tells which interface and addresses a transport configured with
// iface (an interface name, a CIDR, or "" for automatic; tcp_iface when
// empty) would listen on and publish. `mpx info` prints it.
func Describe(iface string) (string, error) {
	if iface == "" {
		iface = paramIface.Get()
	}
	ifs, err := systemIfaces()
	if err != nil {
		return "", err
	}
	sel, err := selectAddrs(iface, ifs)
	if err != nil {
		return "", fmt.Errorf("tcp_iface=%q: %w", iface, err)
	}
	ips := make([]string, len(sel.IPs))
	for i, ip := range sel.IPs {
		ips[i] = ip.String()
	}
	if sel.Iface == "" {
		return "automatic: a job on one node listens on 127.0.0.1 only; others listen on all addresses, publish " + strings.Join(ips, ", "), nil
	}
	return fmt.Sprintf("interface %s: listen on and publish %s", sel.Iface, strings.Join(ips, ", ")), nil
}
