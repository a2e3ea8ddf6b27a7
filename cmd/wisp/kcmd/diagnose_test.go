package kcmd

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDiagnoseHealthyCluster(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3), kfake.ClusterID("kcmd-test"), kfake.SeedTopics(1, "a", "b"))

	got := mustRun(t, optionsFor(t, c, TypeDiagnoseConnection))
	text := strings.Join(got, "\n")
	t.Logf("output:\n%s", text)

	for _, addr := range c.ListenAddrs() {
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(addr) + ` \(NodeID: \d+\) ACCESSIBLE ✅$`)
		if !re.MatchString(text) {
			t.Errorf("broker %s not listed as accessible:\n%s", addr, text)
		}
	}
	for _, want := range []string{
		"Broker Details",
		"Cluster ID: kcmd-test",
		"Topics: 2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Controller: 127\.0\.0\.1:\d+ \(NodeID: \d+\)$`),
		regexp.MustCompile(`(?m)^GroupCoordinator: 127\.0\.0\.1:\d+ \(NodeID: \d+\)$`),
	} {
		if !re.MatchString(text) {
			t.Errorf("output does not match %s:\n%s", re, text)
		}
	}
}

// TestDiagnoseUnreachableBroker makes the cluster advertise one extra broker
// at an address nothing listens on, the way a wrong advertised host looks to
// a client.
func TestDiagnoseUnreachableBroker(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(2))
	deadHost, deadPort := closedPort(t)
	addrs := c.ListenAddrs()

	c.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := kreq.ResponseKind().(*kmsg.MetadataResponse)
		for i, addr := range addrs {
			host, port := splitAddr(t, addr)
			b := kmsg.NewMetadataResponseBroker()
			b.NodeID, b.Host, b.Port = int32(i), host, int32(port)
			resp.Brokers = append(resp.Brokers, b)
		}
		dead := kmsg.NewMetadataResponseBroker()
		dead.NodeID, dead.Host, dead.Port = 7, deadHost, int32(deadPort)
		resp.Brokers = append(resp.Brokers, dead)
		resp.ControllerID = 0
		return resp, nil, true
	})

	got, err := run(t, optionsFor(t, c, TypeDiagnoseConnection))
	if !errors.Is(err, ErrBrokersUnreachable) {
		t.Fatalf("err = %v, want ErrBrokersUnreachable", err)
	}
	deadAddr := net.JoinHostPort(deadHost, strconv.Itoa(deadPort))
	if !strings.Contains(err.Error(), deadAddr) || !strings.Contains(err.Error(), "advertised") {
		t.Errorf("error %q should name %s and the advertised address setting", err, deadAddr)
	}
	text := strings.Join(got, "\n")
	if want := fmt.Sprintf("  %s (NodeID: 7) UNREACHABLE ❌: ", deadAddr); !strings.Contains(text, want) {
		t.Errorf("output lacks %q:\n%s", want, text)
	}
	for i, addr := range addrs {
		if want := fmt.Sprintf("  %s (NodeID: %d) ACCESSIBLE ✅", addr, i); !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestUnreachableBootstrap(t *testing.T) {
	host, port := closedPort(t)
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	for _, typ := range Types {
		t.Run(typ, func(t *testing.T) {
			o := DefaultOptions()
			o.Type, o.BootstrapHost, o.BootstrapPort = typ, host, port
			o.Topic, o.Records = "t", "x"
			o.Timeout = testTimeout
			_, err := run(t, o)
			if !errors.Is(err, ErrBootstrapUnreachable) {
				t.Fatalf("err = %v, want ErrBootstrapUnreachable", err)
			}
			for _, want := range []string{addr, "--bootstrap-host", "--bootstrap-port"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestDiagnoseWithoutCoordinator(t *testing.T) {
	c := newCluster(t)
	c.ControlKey(int16(kmsg.FindCoordinator), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.FindCoordinatorRequest)
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		for _, key := range req.CoordinatorKeys {
			rc := kmsg.NewFindCoordinatorResponseCoordinator()
			rc.Key, rc.ErrorCode = key, kerr.CoordinatorNotAvailable.Code
			resp.Coordinators = append(resp.Coordinators, rc)
		}
		return resp, nil, true
	})
	// The coordinator is informational: its absence is reported, not fatal.
	got := mustRun(t, optionsFor(t, c, TypeDiagnoseConnection))
	last := got[len(got)-1]
	if !strings.HasPrefix(last, "GroupCoordinator: not available: ") || !strings.Contains(last, "COORDINATOR_NOT_AVAILABLE") {
		t.Errorf("last line = %q, want the coordinator reported as not available", last)
	}
}
