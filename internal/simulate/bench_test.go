package simulate

import "testing"

const scenario24h = `
name: noise-24h
service: www
vantages: [a, b, c, d, e]
interval: 1s
duration: 24h
seed: 7
noise: {loss: 0.02}
timeline:
  - {at: 1h, target: primary, outcome: refused, until: 2h}
`

// BenchmarkReplay24h replays a day at 1s with 5 vantages and 3 targets.
func BenchmarkReplay24h(b *testing.B) {
	sc := mustParse(b, scenario24h)
	cfg := testConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(cfg, sc); err != nil {
			b.Fatal(err)
		}
	}
}
