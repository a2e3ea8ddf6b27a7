package group

import (
	"cmp"
	"hash/fnv"
	"slices"
	"time"
)

// Reconciliation of KIP-848 members towards the target assignment, the
// target's computation, and the member timers.

// reconcile moves a member one step towards its target. owned is what the
// member reported owning (nil: unchanged since its last full heartbeat).
//   - Partitions it was told to revoke and no longer reports are released,
//     so their new owners can get them.
//   - While it still holds revoked partitions its epoch stays.
//   - Otherwise it drops what is no longer in its target (revoking first if
//     it still owns any), then takes the free partitions of its target and
//     moves to the assignment epoch.
func (c *Coordinator) reconcile(g *group, m *cmember, owned tpSet) {
	cg := g.consumer
	if owned != nil {
		for k := range m.revokingSet {
			if _, still := owned[k]; !still {
				delete(m.revokingSet, k)
				cg.release(k, m.id)
			}
		}
	}
	if m.away {
		return
	}
	switch m.state {
	case revoking:
		if len(m.revokingSet) > 0 {
			return
		}
	case reconciled:
		if m.epoch == cg.assignmentEpoch {
			return
		}
	}

	var revoke []tp
	for k := range m.assigned {
		if _, keep := m.target[k]; !keep {
			revoke = append(revoke, k)
		}
	}
	stillOwned := false
	for _, k := range revoke {
		if owned == nil {
			stillOwned = true
			break
		}
		if _, ok := owned[k]; ok {
			stillOwned = true
			break
		}
	}
	if stillOwned {
		for _, k := range revoke {
			delete(m.assigned, k)
			m.revokingSet[k] = struct{}{}
		}
		m.state = revoking
		c.armRevokeTimer(g, m)
		return
	}
	for _, k := range revoke {
		delete(m.assigned, k)
		cg.release(k, m.id)
	}
	blocked := false
	newEpoch := cg.assignmentEpoch
	for _, k := range m.target.sorted() {
		if _, have := m.assigned[k]; have {
			continue
		}
		if owner, held := cg.owners[k]; held && owner != m.id {
			blocked = true
			continue
		}
		cg.owners[k] = m.id
		m.assigned[k] = newEpoch
		delete(m.revokingSet, k)
	}
	if m.epoch != newEpoch {
		m.prevEpoch, m.epoch = m.epoch, newEpoch
	}
	m.state = reconciled
	if blocked {
		m.state = waitingRelease
	}
	stopTimer(&m.revokeTimer)
}

// release frees a partition held by member id.
func (cg *consumerGroup) release(k tp, id string) {
	if cg.owners[k] == id {
		delete(cg.owners, k)
	}
}

// armRevokeTimer fences a member that does not confirm its revocation within
// its rebalance timeout, so its partitions can move on.
func (c *Coordinator) armRevokeTimer(g *group, m *cmember) {
	if m.revokeTimer != nil {
		return
	}
	d := m.rebalanceTimeout
	if d <= 0 {
		d = c.cfg.ConsumerSessionTimeout
	}
	cg := g.consumer
	m.revokeTimer = c.afterFunc(d, func() {
		if m.gone || c.groups[g.id] != g || g.consumer != cg || m.state != revoking {
			return
		}
		m.revokeTimer = nil
		c.log.Info("fencing member that did not revoke in time", "group", g.id, "member", m.id, "rebalance_timeout", d)
		c.removeConsumerMember(g, m)
	})
}

// touchConsumer (re)arms a member's session timer.
func (c *Coordinator) touchConsumer(g *group, m *cmember) {
	d := c.cfg.ConsumerSessionTimeout
	m.deadline = time.Now().Add(d)
	if m.timer != nil {
		m.timer.Reset(d)
		return
	}
	cg := g.consumer
	m.timer = c.afterFunc(d, func() {
		if m.gone || c.groups[g.id] != g || g.consumer != cg || cg.members[m.id] != m || time.Now().Before(m.deadline) {
			return
		}
		c.log.Info("consumer group member session expired", "group", g.id, "member", m.id)
		c.removeConsumerMember(g, m)
	})
}

// dropConsumerMember forgets a member; with release, its partitions are
// freed (a replacing static member takes them over instead).
func (c *Coordinator) dropConsumerMember(cg *consumerGroup, m *cmember, release bool) {
	m.gone = true
	stopTimer(&m.timer)
	stopTimer(&m.revokeTimer)
	delete(cg.members, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	if release {
		for k := range m.assigned {
			cg.release(k, m.id)
		}
		for k := range m.revokingSet {
			cg.release(k, m.id)
		}
	}
}

// removeConsumerMember removes a member and reassigns its partitions.
func (c *Coordinator) removeConsumerMember(g *group, m *cmember) {
	c.dropConsumerMember(g.consumer, m, true)
	c.computeTarget(g)
	c.maybeScheduleEmpty(g)
}

func (c *Coordinator) stopEmptyTimer(g *group) { stopTimer(&g.emptyTimer) }

// metadataChanged reports whether the subscribed topics' ids or partition
// counts differ from those the target was computed with (a topic was
// created, deleted, or grew).
func (c *Coordinator) metadataChanged(cg *consumerGroup) bool {
	_, h := c.subscribedTopics(cg)
	return h != cg.metaHash
}

// subscribedTopics resolves every member's subscription against the current
// topics and fingerprints the result.
func (c *Coordinator) subscribedTopics(cg *consumerGroup) ([]Topic, uint64) {
	names := make(map[string]bool)
	anyRegex := false
	for _, m := range cg.members {
		for _, t := range m.topics {
			names[t] = true
		}
		anyRegex = anyRegex || m.regex != nil
	}
	var topics []Topic
	if anyRegex {
		for _, t := range c.md.Topics() {
			if names[t.Name] || cg.anySubscribes(t.Name) {
				topics = append(topics, t)
			}
		}
	} else {
		for name := range names {
			if t, ok := c.md.Topic(name); ok {
				topics = append(topics, t)
			}
		}
	}
	slices.SortFunc(topics, func(a, b Topic) int { return cmp.Compare(a.Name, b.Name) })
	h := fnv.New64a()
	for _, t := range topics {
		h.Write([]byte(t.Name))
		h.Write(t.ID[:])
		h.Write([]byte{byte(t.Partitions >> 24), byte(t.Partitions >> 16), byte(t.Partitions >> 8), byte(t.Partitions), 0})
	}
	return topics, h.Sum64()
}

func (cg *consumerGroup) anySubscribes(topic string) bool {
	for _, m := range cg.members {
		if m.regex != nil && m.regex.MatchString(topic) {
			return true
		}
	}
	return false
}

// computeTarget bumps the group epoch and computes a new target assignment
// for every member with the group's assignor (the one most members ask for).
func (c *Coordinator) computeTarget(g *group) {
	cg := g.consumer
	cg.epoch++
	topics, h := c.subscribedTopics(cg)
	cg.metaHash = h
	cg.assignor = cg.chooseAssignor()
	ids := sortedKeys(cg.members)
	prev := make(map[string]tpSet, len(ids))
	subs := make(map[string]func(string) bool, len(ids))
	for _, id := range ids {
		m := cg.members[id]
		prev[id] = m.target
		subs[id] = m.subscribes
	}
	var target map[string]tpSet
	if cg.assignor == AssignorRange {
		target = assignRange(ids, subs, topics)
	} else {
		target = assignUniform(ids, subs, topics, prev)
	}
	for _, id := range ids {
		cg.members[id].target = target[id]
	}
	cg.assignmentEpoch = cg.epoch
	c.log.Info("computed consumer group target assignment", "group", g.id, "epoch", cg.epoch, "members", len(ids), "topics", len(topics), "assignor", cg.assignor)
}

func (cg *consumerGroup) chooseAssignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		votes[m.assignor]++
	}
	best := cg.assignor
	for _, name := range sortedKeys(votes) {
		if votes[name] > votes[best] {
			best = name
		}
	}
	if !validAssignor(best) {
		best = AssignorUniform
	}
	return best
}
