// The CoreDNS the DNS tests compare bpfproxy against: the real coremain with only the
// plugins the differential and dnsperf runs use (kubernetes, forward, hosts as the tests'
// upstream, cache for the bench's second row, errors, log), so a
// cold build does not compile every cloud provider's SDK. Go is for test peers only.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
)

func main() {
	coremain.Run()
}
