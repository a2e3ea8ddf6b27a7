package agent

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/wisp-stream/wisp/kafka"
)

// Kafka listeners, as Kafka configures them: --listeners
// PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093 binds one listener per
// entry, each with its own security protocol (the name, or the protocol a
// --listener-security-protocol-map entry gives the name). Without
// --listeners, --kafka-addr is one listener whose protocol follows the other
// flags: SSL with a certificate, SASL_ with --sasl-mechanisms.
//
// Clients stay on the listener they bootstrapped from: Metadata on listener
// NAME lists every agent's address on its listener NAME, which gossip
// carries (gossip.Meta.Listeners).

// listenerSpec is one configured Kafka listener.
type listenerSpec struct {
	name, protocol string
	bind           string // host:port to bind
	advertise      string // host:port from --advertise-listeners, or ""
}

// kafkaListener is a bound listener.
type kafkaListener struct {
	spec      listenerSpec
	raw       net.Listener // the TCP listener
	ln        net.Listener // raw with the listener's security
	advertise kafka.Broker // Host and Port clients dial
}

// parseListener reads NAME://host:port.
func parseListener(s string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(strings.TrimSpace(s), "://")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%q is not NAME://host:port (e.g. SASL_SSL://0.0.0.0:9093)", s)
	}
	if _, _, err := splitHostPort(addr); err != nil {
		return "", "", err
	}
	return strings.ToUpper(name), addr, nil
}

// listenerSpecs parses and checks the listener flags. The error names the
// flag to fix.
func (c *Config) listenerSpecs() ([]listenerSpec, error) {
	bad := func(flag, format string, args ...any) error {
		return &FlagError{Flag: flag, Err: fmt.Errorf(format, args...)}
	}
	protocols := map[string]string{}
	for _, e := range c.ListenerProtocolMap {
		name, proto, ok := strings.Cut(strings.TrimSpace(e), ":")
		name, proto = strings.ToUpper(name), strings.ToUpper(proto)
		if !ok || name == "" || !kafka.ValidProtocol(proto) {
			return nil, bad("listener-security-protocol-map", "%q is not NAME:PROTOCOL with PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", e)
		}
		protocols[name] = proto
	}
	var specs []listenerSpec
	if len(c.Listeners) == 0 {
		proto := kafka.ProtocolPlaintext
		switch {
		case c.TLSCert != "" && len(c.SASLMechanisms) > 0:
			proto = kafka.ProtocolSASLSSL
		case c.TLSCert != "":
			proto = kafka.ProtocolSSL
		case len(c.SASLMechanisms) > 0:
			proto = kafka.ProtocolSASLPlaintext
		}
		specs = append(specs, listenerSpec{name: proto, protocol: proto, bind: c.KafkaAddr, advertise: c.AdvertiseAddr})
	}
	for _, l := range c.Listeners {
		name, addr, err := parseListener(l)
		if err != nil {
			return nil, bad("listeners", "%v", err)
		}
		proto, ok := protocols[name]
		if !ok {
			proto = name
		}
		if !kafka.ValidProtocol(proto) {
			return nil, bad("listeners", "listener %s: its name is not a security protocol; map it with --listener-security-protocol-map %s:SASL_SSL (or PLAINTEXT, SSL, SASL_PLAINTEXT)", name, name)
		}
		if slices.ContainsFunc(specs, func(s listenerSpec) bool { return s.name == name }) {
			return nil, bad("listeners", "listener %s is named twice", name)
		}
		specs = append(specs, listenerSpec{name: name, protocol: proto, bind: addr})
	}
	for _, l := range c.AdvertiseListeners {
		name, addr, err := parseListener(l)
		if err != nil {
			return nil, bad("advertise-listeners", "%v", err)
		}
		i := slices.IndexFunc(specs, func(s listenerSpec) bool { return s.name == name })
		if i < 0 {
			return nil, bad("advertise-listeners", "listener %s is not in --listeners", name)
		}
		host, port, _ := splitHostPort(addr)
		if host == "" || net.ParseIP(host).IsUnspecified() || port == 0 {
			return nil, bad("advertise-listeners", "%q must name a host and port clients can dial", l)
		}
		specs[i].advertise = addr
	}
	if len(c.Listeners) > 0 && c.AdvertiseAddr != "" && specs[0].advertise == "" {
		specs[0].advertise = c.AdvertiseAddr // --advertise-addr keeps meaning the first listener
	}
	for _, s := range specs {
		if kafka.UsesTLS(s.protocol) && (c.TLSCert == "" || c.TLSKey == "") {
			return nil, bad("tls-cert", "listener %s (%s) needs --tls-cert and --tls-key", s.name, s.protocol)
		}
		if kafka.UsesSASL(s.protocol) && len(c.SASLMechanisms) == 0 {
			return nil, bad("sasl-mechanisms", "listener %s (%s) needs at least one mechanism, e.g. --sasl-mechanisms SCRAM-SHA-256,PLAIN", s.name, s.protocol)
		}
	}
	return specs, nil
}

// bindKafka binds every Kafka listener with its security. The first one is
// the agent's main address (KafkaAddr, AdvertisedAddr, Raft's host).
func (a *Agent) bindKafka(serverTLS *tls.Config) error {
	specs, err := a.cfg.listenerSpecs()
	if err != nil {
		return err
	}
	for i, s := range specs {
		flag := "listeners"
		if len(a.cfg.Listeners) == 0 {
			flag = "kafka-addr"
		}
		raw, err := net.Listen("tcp", s.bind)
		if err != nil {
			a.closeKafkaListeners()
			return &FlagError{Flag: flag, Err: fmt.Errorf("listener %s: %w", s.name, err)}
		}
		kl := &kafkaListener{spec: s, raw: raw}
		a.kafkaLns = append(a.kafkaLns, kl)
		if kl.advertise, err = advertised(s.advertise, raw.Addr().String()); err != nil {
			a.closeKafkaListeners()
			if len(a.cfg.Listeners) == 0 || (i == 0 && a.cfg.AdvertiseAddr != "") {
				return &FlagError{Flag: "advertise-addr", Err: err}
			}
			return &FlagError{Flag: "advertise-listeners", Err: err}
		}
		lc := kafka.ListenerConfig{Name: s.name, Protocol: s.protocol, AdvertisedHost: kl.advertise.Host, AdvertisedPort: kl.advertise.Port}
		if kafka.UsesTLS(s.protocol) {
			lc.TLS = serverTLS
		}
		if kl.ln, err = kafka.WrapListener(raw, lc); err != nil {
			a.closeKafkaListeners()
			return &FlagError{Flag: flag, Err: err}
		}
		if i == 0 {
			a.kafkaLn = raw
		}
	}
	return nil
}

// closeKafkaListeners stops accepting on every Kafka listener. Idempotent.
func (a *Agent) closeKafkaListeners() {
	for _, kl := range a.kafkaLns {
		kl.raw.Close()
	}
}

// serveKafka serves every listener until the server closes.
func (a *Agent) serveKafka() {
	for _, kl := range a.kafkaLns {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.kafka.Serve(kl.ln)
		}()
	}
}

// listenerAddrs maps each listener name to this agent's advertised address
// on it, for gossip.
func (a *Agent) listenerAddrs() map[string]string {
	out := make(map[string]string, len(a.kafkaLns))
	for _, kl := range a.kafkaLns {
		out[kl.spec.name] = net.JoinHostPort(kl.advertise.Host, strconv.Itoa(int(kl.advertise.Port)))
	}
	return out
}

// ListenerAddr is the bound address of the named Kafka listener, or "".
func (a *Agent) ListenerAddr(name string) string {
	for _, kl := range a.kafkaLns {
		if kl.spec.name == name {
			return kl.raw.Addr().String()
		}
	}
	return ""
}

// brokersOn lists the live agents that serve Kafka with their address on
// the named listener ("": their main address), sorted by node id. Agents
// without that listener are left out: a client must not be sent to a
// listener of another security.
func (p peers) brokersOn(listener string) []kafka.Broker {
	var out []kafka.Broker
	for _, m := range p.g.Members() {
		addr := m.Meta.KafkaAddr // "" while not serving
		if addr != "" && listener != "" && len(m.Meta.Listeners) > 0 {
			addr = m.Meta.Listeners[listener]
		} // else the main address, or an agent from before listeners: its one address
		host, port, err := splitHostPort(addr)
		if addr == "" || err != nil {
			continue
		}
		b := kafka.Broker{NodeID: m.Meta.NodeID, Host: host, Port: int32(port)}
		if m.Meta.AZ != "" {
			az := m.Meta.AZ
			b.Rack = &az
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b kafka.Broker) int { return int(a.NodeID) - int(b.NodeID) })
	return out
}
