// Command kafkaready reports whether a Kafka cluster is ready for clients: it asks the seed
// brokers for the cluster's metadata over the Kafka protocol and exits 0 when at least one
// broker and an active controller are listed and a group coordinator answers, 1 otherwise
// (with the reason on stderr).
//
// deploy/local/up.sh uses it as the health check of the local broker, since an open port
// says nothing about a broker that is still recovering its log or electing a controller.
//
//	kafkaready -brokers 127.0.0.1:19092 -timeout 3s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:19092", "comma-separated seed brokers (host:port)")
	timeout := flag.Duration("timeout", 5*time.Second, "give up after this long")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	summary, err := check(ctx, strings.Split(*brokers, ","))
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafkaready: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(summary)
}

// check returns a one-line description of the cluster, or why it is not ready.
func check(ctx context.Context, seeds []string) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DialTimeout(time.Second))
	if err != nil {
		return "", fmt.Errorf("new client: %w", err)
	}
	defer cl.Close()

	meta, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return "", fmt.Errorf("metadata: %w", err)
	}
	if len(meta.Brokers) == 0 {
		return "", errors.New("metadata lists no broker")
	}
	if meta.Controller < 0 {
		return "", errors.New("metadata names no active controller")
	}
	// A fresh cluster creates __consumer_offsets on the first coordinator lookup and
	// answers COORDINATOR_NOT_AVAILABLE until it exists; consumer groups (and the
	// offsets they commit) work only after that.
	for _, c := range kadm.NewClient(cl).FindGroupCoordinators(ctx, "kafkaready") {
		if c.Err != nil {
			return "", fmt.Errorf("group coordinator: %w", c.Err)
		}
	}
	return fmt.Sprintf("cluster %s: %d broker(s), controller %d, group coordinator ready", meta.Cluster, len(meta.Brokers), meta.Controller), nil
}
