package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// serveEdge serves a caching edge until ctx ends: the first fetch of a path
// is a MISS that costs missDelay, later ones are HITs (X-Cache and Age say
// which), every body size bytes.
func serveEdge(ctx context.Context, listen string, missDelay time.Duration, size int) error {
	body := []byte(strings.Repeat("x", size))
	var cached sync.Map
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, hit := cached.LoadOrStore(r.URL.Path, true); hit {
			w.Header().Set("X-Cache", "HIT")
			w.Header().Set("Age", "1")
		} else {
			time.Sleep(missDelay) // the origin's latency, simulated
			w.Header().Set("X-Cache", "MISS")
			w.Header().Set("Age", "0")
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
