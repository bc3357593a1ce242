// Command referrers-registry serves go-containerregistry's in-memory registry with the OCI 1.1
// referrers API switched on, for integration tests: distribution 2.8 has no referrers API, and
// `crane registry serve` leaves it off.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("address", "127.0.0.1:0", "listen address")
	flag.Parse()
	handler := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true))
	log.Fatal(http.ListenAndServe(*addr, handler))
}
