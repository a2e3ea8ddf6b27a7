package kafka

// ListenerBrokers is implemented by backends that know every agent's
// address on each listener. Clients stay on the listener they bootstrapped
// from, as in Kafka: Metadata, DescribeCluster and FindCoordinator answer
// with addresses on the connection's listener.
type ListenerBrokers interface {
	// BrokersOn lists the live agents with their address on the named
	// listener, sorted by node id; agents without it are left out.
	BrokersOn(listener string) []Broker
}

// brokers lists the live agents as this connection's listener reaches them;
// the first is the controller.
func (c *clientConn) brokers() []Broker {
	lb, ok := c.s.backend.(ListenerBrokers)
	if !ok || c.listener.AdvertisedHost == "" {
		return c.s.brokers() // a bare listener: the server's one address
	}
	if bs := lb.BrokersOn(c.listener.Name); len(bs) > 0 {
		return bs
	}
	// Gossip does not list this agent yet: it can at least name itself.
	return []Broker{{NodeID: c.s.cfg.NodeID, Host: c.listener.AdvertisedHost, Port: c.listener.AdvertisedPort}}
}

// endpoint gives broker b's address on this connection's listener; false
// when b does not serve that listener.
func (c *clientConn) endpoint(b Broker) (Broker, bool) {
	for _, lb := range c.brokers() {
		if lb.NodeID == b.NodeID {
			return lb, true
		}
	}
	return b, false
}
