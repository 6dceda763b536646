// The grpc-gateway v1 peer of the benchmark: the generated REST handlers of
// acme.library.v1 (from Debian's protoc-gen-grpc-gateway 1.6.4), with the
// JSON options matching bazaar-gateway's defaults (proto field names,
// unpopulated fields emitted).
package main

import (
	"context"
	"flag"
	"log"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"

	librarypb "librarybench/librarypb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:18551", "gRPC upstream")
	flag.Parse()

	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard,
		&runtime.JSONPb{OrigName: true, EmitDefaults: true}))
	opts := []grpc.DialOption{grpc.WithInsecure()}
	if err := librarypb.RegisterLibraryServiceHandlerFromEndpoint(context.Background(), mux, *upstream, opts); err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(*listen, mux))
}
