package kcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrBrokersUnreachable means the bootstrap server answered but at least
// one broker it advertises could not be dialed or did not answer
// ApiVersions; clients would fail the same way.
var ErrBrokersUnreachable = errors.New("advertised brokers unreachable")

// diagnoseGroup is the group name used to ask for a group coordinator. Any
// name works; the coordinator is the same kind of answer a consumer gets.
const diagnoseGroup = "wisp-kcmd-diagnose"

// clientSoftwareVersion goes in ApiVersions v3+ (KIP-511), where servers
// only record it; it must match [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?.
const clientSoftwareVersion = "1"

// brokerCheck is the outcome of dialing one advertised broker.
type brokerCheck struct {
	broker kmsg.MetadataResponseBroker
	err    error
}

func diagnose(ctx context.Context, o Options, out io.Writer) error {
	cl, err := newClient(o)
	if err != nil {
		return err
	}
	defer cl.Close()

	fmt.Fprintf(out, "Bootstrap server %s: reachable ✅\n", o.bootstrapAddr())
	meta, err := requestMetadata(ctx, cl, o, nil)
	if err != nil {
		return err
	}

	brokers := append([]kmsg.MetadataResponseBroker(nil), meta.Brokers...)
	sort.Slice(brokers, func(i, j int) bool { return brokers[i].NodeID < brokers[j].NodeID })
	checks := checkBrokers(ctx, cl, o, brokers)

	fmt.Fprintln(out)
	fmt.Fprintln(out, "Broker Details")
	fmt.Fprintln(out, "--------------")
	if len(checks) == 0 {
		fmt.Fprintln(out, "  (the server advertised no brokers)")
	}
	var unreachable []string
	for _, c := range checks {
		if c.err != nil {
			fmt.Fprintf(out, "  %s (NodeID: %d) UNREACHABLE ❌: %v\n", brokerAddr(c.broker), c.broker.NodeID, c.err)
			unreachable = append(unreachable, brokerAddr(c.broker))
			continue
		}
		fmt.Fprintf(out, "  %s (NodeID: %d) ACCESSIBLE ✅\n", brokerAddr(c.broker), c.broker.NodeID)
	}

	fmt.Fprintln(out)
	fmt.Fprintf(out, "Controller: %s\n", describeNode(brokers, meta.ControllerID))
	clusterID := "not reported"
	if meta.ClusterID != nil && *meta.ClusterID != "" {
		clusterID = *meta.ClusterID
	}
	fmt.Fprintf(out, "Cluster ID: %s\n", clusterID)
	fmt.Fprintf(out, "Topics: %d\n", len(meta.Topics))
	if addr, err := groupCoordinator(ctx, cl, o); err != nil {
		fmt.Fprintf(out, "GroupCoordinator: not available: %v\n", err)
	} else {
		fmt.Fprintf(out, "GroupCoordinator: %s\n", addr)
	}

	if len(unreachable) > 0 {
		return fmt.Errorf("%w: %d of %d brokers (%v). Clients are sent to the address each broker advertises: check the advertised host and port in the server's configuration, and that this machine can reach them.",
			ErrBrokersUnreachable, len(unreachable), len(checks), unreachable)
	}
	return nil
}

// checkBrokers dials every broker at the address it advertises and sends
// ApiVersions, all at once so that several dead brokers cost one timeout.
func checkBrokers(ctx context.Context, cl *kgo.Client, o Options, brokers []kmsg.MetadataResponseBroker) []brokerCheck {
	checks := make([]brokerCheck, len(brokers))
	var wg sync.WaitGroup
	for i, b := range brokers {
		checks[i].broker = b
		wg.Go(func() {
			checks[i].err = checkBroker(ctx, cl, o, b.NodeID)
		})
	}
	wg.Wait()
	return checks
}

// checkBroker goes through the client's handle for the node ID, which dials
// the advertised address on a connection of its own: the bootstrap
// connection is kept under a separate seed ID and is never reused here.
func checkBroker(ctx context.Context, cl *kgo.Client, o Options, node int32) error {
	sctx, cancel := step(ctx, o)
	defer cancel()
	// The client fills the software fields only for requests that go
	// through Client.Request; a broker handle sends the request as is, and
	// v3+ servers reject empty ones.
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = clientID
	req.ClientSoftwareVersion = clientSoftwareVersion
	resp, err := cl.Broker(int(node)).Request(sctx, req)
	if err != nil {
		return fmt.Errorf("%w%s", err, explain(err, o))
	}
	av, ok := resp.(*kmsg.ApiVersionsResponse)
	if !ok {
		return fmt.Errorf("unexpected %T answer to ApiVersions", resp)
	}
	return kafkaError("ApiVersions", av.ErrorCode, nil)
}

// groupCoordinator returns the coordinator's address as "host:port (NodeID: N)".
func groupCoordinator(ctx context.Context, cl *kgo.Client, o Options) (string, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = 0 // group
	req.CoordinatorKey = diagnoseGroup
	req.CoordinatorKeys = []string{diagnoseGroup}
	sctx, cancel := step(ctx, o)
	defer cancel()
	resp, err := req.RequestWith(sctx, cl)
	if err != nil {
		return "", fmt.Errorf("%w%s", err, explain(err, o))
	}
	// Version 4 answers per key; older versions at the top level.
	host, port, node := resp.Host, resp.Port, resp.NodeID
	code, msg := resp.ErrorCode, resp.ErrorMessage
	if len(resp.Coordinators) > 0 {
		c := resp.Coordinators[0]
		host, port, node = c.Host, c.Port, c.NodeID
		code, msg = c.ErrorCode, c.ErrorMessage
	}
	if err := kafkaError("FindCoordinator", code, msg); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (NodeID: %d)", net.JoinHostPort(host, strconv.Itoa(int(port))), node), nil
}

func brokerAddr(b kmsg.MetadataResponseBroker) string {
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
}

// describeNode names a node ID by its advertised address when known.
func describeNode(brokers []kmsg.MetadataResponseBroker, node int32) string {
	if node < 0 {
		return "none reported"
	}
	for _, b := range brokers {
		if b.NodeID == node {
			return fmt.Sprintf("%s (NodeID: %d)", brokerAddr(b), node)
		}
	}
	return fmt.Sprintf("NodeID %d (not among the advertised brokers)", node)
}
