package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const apiVersionsKey = 18

// ApiVersions v0-v4. Requests above v4 are answered in decode with
// UNSUPPORTED_VERSION and the v0 table.
func init() {
	register(api{key: apiVersionsKey, min: 0, max: 4, handle: immediate(handleAPIVersions)})
}

func apiVersionsTable() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, a := range sortedAPIs() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		keys = append(keys, k)
	}
	return keys
}

func handleAPIVersions(c *clientConn, req kmsg.Request) kmsg.Response {
	resp := req.(*kmsg.ApiVersionsRequest).ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiVersionsTable()
	return resp
}

func (s *Server) unsupportedAPIVersions() respond {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiVersionsTable()
	return func() kmsg.Response { return resp }
}
