package group

import "slices"

// The server-side assignors of KIP-848 groups. Both take the members in a
// fixed order (sorted ids), a subscription test per member and the
// subscribed topics, and return every member's target; a member subscribed to
// nothing that exists gets an empty target.

// assignUniform spreads all subscribed partitions as evenly as the
// subscriptions allow while moving as few as possible: a partition stays
// with the member that had it in its previous target if that member still
// subscribes to its topic, free partitions go to the least-loaded
// subscriber, and then partitions move one at a time from a member to a
// subscriber holding at least two fewer until no such move exists.
func assignUniform(ids []string, subs map[string]func(string) bool, topics []Topic, prev map[string]tpSet) map[string]tpSet {
	out := make(map[string]tpSet, len(ids))
	for _, id := range ids {
		out[id] = tpSet{}
	}
	type part struct {
		k     tp
		topic string
	}
	var parts []part
	subscribers := make(map[string][]string, len(topics))
	for _, t := range topics {
		for _, id := range ids {
			if subs[id](t.Name) {
				subscribers[t.Name] = append(subscribers[t.Name], id)
			}
		}
		if len(subscribers[t.Name]) == 0 {
			continue
		}
		for p := range t.Partitions {
			parts = append(parts, part{tp{t.ID, p}, t.Name})
		}
	}
	owner := make(map[tp]string, len(parts))
	for _, pt := range parts {
		for _, id := range subscribers[pt.topic] {
			if _, had := prev[id][pt.k]; had {
				owner[pt.k] = id
				out[id][pt.k] = struct{}{}
				break
			}
		}
	}
	leastLoaded := func(cands []string) string {
		best := cands[0]
		for _, id := range cands[1:] {
			if len(out[id]) < len(out[best]) {
				best = id
			}
		}
		return best
	}
	for _, pt := range parts {
		if _, ok := owner[pt.k]; ok {
			continue
		}
		id := leastLoaded(subscribers[pt.topic])
		owner[pt.k] = id
		out[id][pt.k] = struct{}{}
	}
	// Each move lowers the sum of squared loads by at least two, so this
	// ends.
	for moved := true; moved; {
		moved = false
		for _, pt := range parts {
			from := owner[pt.k]
			to := leastLoaded(subscribers[pt.topic])
			if len(out[from]) >= len(out[to])+2 {
				delete(out[from], pt.k)
				out[to][pt.k] = struct{}{}
				owner[pt.k] = to
				moved = true
			}
		}
	}
	return out
}

// assignRange gives each topic's subscribers contiguous ranges of its
// partitions, the first ones one partition more when the count does not
// divide evenly, like Kafka's range assignor.
func assignRange(ids []string, subs map[string]func(string) bool, topics []Topic) map[string]tpSet {
	out := make(map[string]tpSet, len(ids))
	for _, id := range ids {
		out[id] = tpSet{}
	}
	for _, t := range topics {
		var members []string
		for _, id := range ids {
			if subs[id](t.Name) {
				members = append(members, id)
			}
		}
		if len(members) == 0 {
			continue
		}
		slices.Sort(members)
		n, k := int(t.Partitions), len(members)
		p := 0
		for i, id := range members {
			count := n / k
			if i < n%k {
				count++
			}
			for range count {
				out[id][tp{t.ID, int32(p)}] = struct{}{}
				p++
			}
		}
	}
	return out
}
