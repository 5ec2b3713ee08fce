// Generates test/golden/rs/k4m2.json with klauspost/reedsolomon (the reference implementation our shards must
// match byte for byte). Run: cd test/golden/rs/gen && go run . > ../k4m2.json
package main

import (
	"encoding/hex"
	"encoding/json"
	"os"

	"github.com/klauspost/reedsolomon"
)

type vector struct {
	Name      string   `json:"name"`
	K         int      `json:"k"`
	M         int      `json:"m"`
	ShardSize int      `json:"shardSize"`
	Data      []string `json:"data"`
	Parity    []string `json:"parity"`
}

// lcg gives the same pseudo-random bytes as the TypeScript test's generator.
func lcg(n int, seed uint32) []byte {
	out := make([]byte, n)
	s := seed
	for i := range out {
		s = s*1664525 + 1013904223
		out[i] = byte(s >> 24)
	}
	return out
}

func make1(name string, k, m int, data []byte) vector {
	size := len(data) / k
	enc, err := reedsolomon.New(k, m)
	if err != nil {
		panic(err)
	}
	shards := make([][]byte, k+m)
	for i := 0; i < k; i++ {
		shards[i] = data[i*size : (i+1)*size]
	}
	for i := k; i < k+m; i++ {
		shards[i] = make([]byte, size)
	}
	if err := enc.Encode(shards); err != nil {
		panic(err)
	}
	v := vector{Name: name, K: k, M: m, ShardSize: size}
	for i := 0; i < k; i++ {
		v.Data = append(v.Data, hex.EncodeToString(shards[i]))
	}
	for i := k; i < k+m; i++ {
		v.Parity = append(v.Parity, hex.EncodeToString(shards[i]))
	}
	return v
}

func main() {
	vs := []vector{
		make1("small", 4, 2, []byte{0, 1, 4, 5, 2, 3, 6, 7}),
		make1("checkpoint-0001", 4, 2, []byte("checkpoint-0001!")),
		make1("lcg-1000", 4, 2, lcg(1000, 42)),
		make1("lcg-4096-k5m3", 5, 3, lcg(5*4096, 7)),
		make1("klauspost-one-encode-k5m5", 5, 5, []byte{0, 1, 4, 5, 2, 3, 6, 7, 8, 9}),
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(vs); err != nil {
		panic(err)
	}
}
