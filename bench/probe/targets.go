package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// serveTargets starts n HTTP targets on host:basePort.. and serves /healthz
// until ctx ends. Each is a real net/http server, as a CDN edge would be.
func serveTargets(ctx context.Context, host string, basePort, n int) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	srvs := make([]*http.Server, 0, n)
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", host, basePort+i))
		if err != nil {
			for _, s := range srvs {
				_ = s.Close()
			}
			return fmt.Errorf("targets: listen: %w", err)
		}
		s := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		srvs = append(srvs, s)
		go func() { errc <- s.Serve(ln) }()
	}
	<-ctx.Done()
	for _, s := range srvs {
		_ = s.Close()
	}
	for range srvs {
		<-errc
	}
	return nil
}
